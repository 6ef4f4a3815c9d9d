"""The one durable-job engine every job kind runs on (migrations, exports, backups, launches, and whatever comes).

The job row is the truth: state, step, checkpoint fields, lease owner and epoch, heartbeat, wake time and attempts
live on it (`models.DurableJob`). `transitions.transition` is the only writer of `state`; a worker writes anything
else only while it holds the lease, fenced by the epoch (`lease`). A tick (`runner.run_tick`) claims the lease,
beats it for the whole tick (`heartbeat`), runs the kind's steps, retries transient peer errors from the checkpoint
after a backoff (`retry`), waits without holding a worker (`queue.schedule_tick`), and runs the kind's release rules
on failure or cancel, each side effect fenced. `reconciler` is the one safety net; `admission` the one interface
for limits. A kind registers itself (`kinds.register`) with its steps, limits and release rules, nothing more.

The lease is deliberately an (owner, epoch) pair on the row that any executor can hold: a worker of the portal
today, a remote agent leasing a step over the API tomorrow. Claim, renew, checkpoint and release take the epoch,
so a remote step is fenced exactly like a local one."""
