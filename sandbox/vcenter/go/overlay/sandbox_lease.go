// vCenter sandbox overlay: VirtualMachine.ExportVm and its HttpNfcLease.
//
// Compiled into github.com/vmware/govmomi/simulator with `go build -overlay`.
// govmomi 0.24 has no ExportVm; its HttpNfcLease type already defines the
// lease methods, so the export lease is a separate type (sandboxLease) that
// the dispatcher finds by reflection like any other managed object.
package simulator

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const (
	sbxLeaseInitializing int32 = iota
	sbxLeaseReady
	sbxLeaseDone
	sbxLeaseError
)

// Methods a VM refuses while an export lease is held (names as on the wire).
var sbxLeaseDisabledMethods = []string{
	"PowerOnVM_Task", "Destroy_Task", "RelocateVM_Task", "MigrateVM_Task",
	"UnregisterVM", "ReconfigVM_Task", "ExportVm",
}

type sbxLeaseDisk struct {
	name      string // file name in the URL, e.g. disk-0.vmdk
	deviceKey int32
	vmdk      *sbxVmdk
}

// sandboxLease is an export HttpNfcLease. The embedded mo type must be the first
// field (the property collector relies on it). It implements sync.Locker so the
// registry serialises SOAP calls, property reads and the reaper on one mutex.
type sandboxLease struct {
	mo.HttpNfcLease

	// servedBy is the ESX host whose listener serves the disks (zero: vCenter's).
	servedBy types.ManagedObjectReference

	mu           sync.Mutex
	state        int32 // atomic mirror of HttpNfcLease.State for streaming readers
	ticket       string
	vm           types.ManagedObjectReference
	vmName       string
	disks        []*sbxLeaseDisk
	info         *types.HttpNfcLeaseInfo
	created      time.Time
	readyAt      time.Time
	deadline     time.Time
	errorAt      time.Time
	timeout      time.Duration
	initFault    *types.LocalizedMethodFault
	addedMethods []string
	released     bool
	bytesServed  int64 // atomic
	downloads    int64 // atomic
}

func (l *sandboxLease) Lock()   { l.mu.Lock() }
func (l *sandboxLease) Unlock() { l.mu.Unlock() }

// withLock takes the same mutex the registry uses for SOAP calls on the lease.
func (l *sandboxLease) withLock(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

func sbxStateName(s int32) types.HttpNfcLeaseState {
	switch s {
	case sbxLeaseReady:
		return types.HttpNfcLeaseStateReady
	case sbxLeaseDone:
		return types.HttpNfcLeaseStateDone
	case sbxLeaseError:
		return types.HttpNfcLeaseStateError
	}
	return types.HttpNfcLeaseStateInitializing
}

func sbxToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return "52" + h[2:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func sbxLocalized(f types.BaseMethodFault, msg string) *types.LocalizedMethodFault {
	return &types.LocalizedMethodFault{Fault: f, LocalizedMessage: msg}
}

// ExportVm implements VirtualMachine.ExportVm (missing in govmomi 0.24).
func (vm *VirtualMachine) ExportVm(ctx *Context, req *types.ExportVm) soap.HasFault {
	body := &methods.ExportVmBody{}
	if sbx == nil {
		body.Fault_ = Fault("sandbox not installed", &types.NotSupported{})
		return body
	}
	if sbx.cfg.EnforceExportPrivilege && ctx.req != nil && ctx.Session != nil {
		if !sbxHasPrivilege(vm.Self, ctx.Session.UserName, "VApp.Export") {
			body.Fault_ = Fault(fmt.Sprintf("Permission to perform this operation was denied (VApp.Export on %s)", vm.Name),
				&types.NoPermission{Object: vm.Self, PrivilegeId: "VApp.Export"})
			return body
		}
	}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		body.Fault_ = Fault("The attempted operation cannot be performed in the current state ("+string(vm.Runtime.PowerState)+").",
			&types.InvalidPowerState{
				RequestedState: types.VirtualMachinePowerStatePoweredOff,
				ExistingState:  vm.Runtime.PowerState,
			})
		return body
	}
	sbx.mu.Lock()
	busy := sbx.leasedVMs[vm.Self]
	sbx.mu.Unlock()
	if busy != nil {
		body.Fault_ = Fault("Another export lease is active on this virtual machine", &types.TaskInProgress{Task: busy.Self})
		return body
	}

	l := sbxNewLease(ctx, vm)
	body.Res = &types.ExportVmResponse{Returnval: l.Self}
	return body
}

func sbxRequestEndpoint(ctx *Context) (scheme string, port int, tlsOn bool) {
	scheme, port = "http", sbx.httpPort
	if ctx.req == nil {
		return
	}
	if ctx.req.TLS != nil {
		scheme, tlsOn = "https", true
		port = sbx.httpsPort
	}
	if a, ok := ctx.req.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if t, ok := a.(*net.TCPAddr); ok {
			port = t.Port
		}
	}
	return
}

func sbxAdapterType(devices object.VirtualDeviceList, disk *types.VirtualDisk) (string, string) {
	ctrl := devices.FindByKey(disk.ControllerKey)
	if ctrl == nil {
		return "lsilogic", fmt.Sprintf("VirtualDisk%d", disk.Key)
	}
	name := reflect.TypeOf(ctrl).Elem().Name()
	bus := int32(0)
	if c, ok := ctrl.(types.BaseVirtualController); ok {
		bus = c.GetVirtualController().BusNumber
	}
	unit := int32(0)
	if disk.UnitNumber != nil {
		unit = *disk.UnitNumber
	}
	path := fmt.Sprintf("%s%d:%d", name, bus, unit)
	if strings.Contains(name, "IDE") {
		return "ide", path
	}
	return "lsilogic", path
}

func sbxNewLease(ctx *Context, vm *VirtualMachine) *sandboxLease {
	now := time.Now()
	faults := sbxFaults()

	timeout := sbx.cfg.LeaseTimeout
	if faults.LeaseTimeoutSeconds != nil {
		timeout = sbxDuration(*faults.LeaseTimeoutSeconds)
	}
	initDelay := sbx.cfg.LeaseInit
	if faults.LeaseInitSeconds != nil {
		initDelay = sbxDuration(*faults.LeaseInitSeconds)
	}

	sbx.mu.Lock()
	sbx.counter++
	id := sbx.counter
	sbx.mu.Unlock()

	l := &sandboxLease{
		ticket:  sbxToken(),
		vm:      vm.Self,
		vmName:  vm.Name,
		created: now,
		readyAt: now.Add(initDelay),
		timeout: timeout,
	}
	l.Self = types.ManagedObjectReference{Type: "HttpNfcLease", Value: fmt.Sprintf("session[sandbox]lease-%d", id)}
	l.State = types.HttpNfcLeaseStateInitializing
	l.InitializeProgress = 0
	l.Mode = string(types.HttpNfcLeaseModePushOrGet)
	l.Capabilities = types.HttpNfcLeaseCapabilities{PullModeSupported: false, CorsSupported: false}
	if faults.LeaseErrorAfterSeconds != nil {
		l.errorAt = now.Add(sbxDuration(*faults.LeaseErrorAfterSeconds))
	}

	scheme, port, tlsOn := sbxRequestEndpoint(ctx)
	thumb := ""
	if tlsOn {
		thumb = sbx.cfg.Thumbprint
	}
	hostRef, esx := sbxEsxOf(&vm.VirtualMachine)
	if tlsOn && esx != nil { // the VM's host serves its disks, with its own certificate
		l.servedBy, port, thumb = hostRef, esx.port, esx.thumb
	}
	host := sbx.cfg.DeviceURLHost
	if host == "" {
		host = "*"
		if tlsOn {
			host = "esx"
		}
	}
	if host == "esx" && vm.Runtime.Host != nil { // name the VM's ESX host, as vCenter does
		if h, ok := Map.Get(*vm.Runtime.Host).(*HostSystem); ok {
			host = h.Name
		}
	}
	if faults.EsxHostUnresolvable != "" {
		host = faults.EsxHostUnresolvable
	}
	hostport := net.JoinHostPort(host, strconv.Itoa(port))

	info := &types.HttpNfcLeaseInfo{Lease: l.Self, Entity: vm.Self, LeaseTimeout: int32(timeout / time.Second)}
	if info.LeaseTimeout < 1 {
		info.LeaseTimeout = 1
	}
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	n := 0
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		disk := d.(*types.VirtualDisk)
		capacity := getDiskSize(disk)
		ds := ""
		if b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
			if ref := b.GetVirtualDeviceFileBackingInfo().Datastore; ref != nil {
				ds = ref.Value
			}
		}
		if rdm, ok := disk.Backing.(*types.VirtualDiskRawDiskMappingVer1BackingInfo); ok && rdm.CompatibilityMode == string(types.VirtualDiskCompatibilityModePhysicalMode) {
			l.initFault = sbxLocalized(&types.NotSupported{},
				fmt.Sprintf("Cannot export disk %d of %s: physical compatibility mode raw device mappings cannot be exported", disk.Key, vm.Name))
			continue
		}
		adapter, path := sbxAdapterType(devices, disk)
		sbx.mu.Lock()
		opts, ok := sbx.disks[fmt.Sprintf("%s:%d", vm.Self.Value, disk.Key)]
		sbx.mu.Unlock()
		if !ok {
			h := fnv.New64a()
			fmt.Fprintf(h, "%s/%d", vm.Name, disk.Key)
			opts = SandboxDiskOptions{UsedFraction: 1, Seed: h.Sum64()}
		}
		name := fmt.Sprintf("disk-%d.vmdk", n)
		n++
		v := sbxNewVmdk(capacity, opts.UsedFraction, opts.Seed, adapter)
		l.disks = append(l.disks, &sbxLeaseDisk{name: name, deviceKey: disk.Key, vmdk: v})
		info.TotalDiskCapacityInKB += capacity / 1024
		info.DeviceUrl = append(info.DeviceUrl, types.HttpNfcLeaseDeviceUrl{
			Key:           fmt.Sprintf("/%s/%s", vm.Self.Value, path),
			ImportKey:     fmt.Sprintf("/%s/%s", vm.Name, path),
			Url:           fmt.Sprintf("%s://%s/nfc/%s/%s", scheme, hostport, l.ticket, name),
			SslThumbprint: thumb,
			Disk:          types.NewBool(true),
			TargetId:      name,
			DatastoreKey:  ds,
			// No FileSize: vSphere sets it "only for non-disk file backings"; a disk's
			// stream length is unknown until it has been read.
		})
	}
	l.info = info

	// Lock the VM (caller holds the VM's registry lock).
	existing := map[string]bool{}
	for _, m := range vm.DisabledMethod {
		existing[m] = true
	}
	disabled := append([]string(nil), vm.DisabledMethod...)
	for _, m := range sbxLeaseDisabledMethods {
		if !existing[m] {
			l.addedMethods = append(l.addedMethods, m)
			disabled = append(disabled, m)
		}
	}
	Map.Update(vm, []types.PropertyChange{{Name: "disabledMethod", Val: disabled}})

	Map.Put(l)
	sbx.mu.Lock()
	sbx.tickets[l.ticket] = l
	sbx.leases[l.Self] = l
	sbx.leasedVMs[vm.Self] = l
	sbx.mu.Unlock()
	return l
}

// sbxRelease unlocks the VM once a lease reached done/error. Call WITHOUT the
// VM lock; it may be called with the lease lock held (order: lease -> VM).
func (l *sandboxLease) sbxRelease() {
	sbx.mu.Lock()
	if l.released {
		sbx.mu.Unlock()
		return
	}
	l.released = true
	if sbx.leasedVMs[l.vm] == l {
		delete(sbx.leasedVMs, l.vm)
	}
	delete(sbx.tickets, l.ticket)
	sbx.mu.Unlock()

	obj := Map.Get(l.vm)
	vm, ok := obj.(*VirtualMachine)
	if !ok {
		return
	}
	Map.WithLock(vm, func() {
		drop := map[string]bool{}
		for _, m := range l.addedMethods {
			drop[m] = true
		}
		var keep []string
		for _, m := range vm.DisabledMethod {
			if !drop[m] {
				keep = append(keep, m)
			}
		}
		Map.Update(vm, []types.PropertyChange{{Name: "disabledMethod", Val: keep}})
	})
}

// The following run with the lease lock held.

func (l *sandboxLease) sbxSetReady(now time.Time) {
	l.deadline = now.Add(l.timeout)
	atomic.StoreInt32(&l.state, sbxLeaseReady)
	Map.Update(l, []types.PropertyChange{
		{Name: "info", Val: l.info},
		{Name: "initializeProgress", Val: int32(100)},
		{Name: "state", Val: types.HttpNfcLeaseStateReady},
	})
}

func (l *sandboxLease) sbxSetError(f *types.LocalizedMethodFault) {
	atomic.StoreInt32(&l.state, sbxLeaseError)
	Map.Update(l, []types.PropertyChange{
		{Name: "error", Val: f},
		{Name: "state", Val: types.HttpNfcLeaseStateError},
	})
}

func (l *sandboxLease) sbxSetDone() {
	atomic.StoreInt32(&l.state, sbxLeaseDone)
	Map.Update(l, []types.PropertyChange{
		{Name: "transferProgress", Val: int32(100)},
		{Name: "state", Val: types.HttpNfcLeaseStateDone},
	})
}

// sbxTick advances the lease clock; returns true when it just became terminal.
func (l *sandboxLease) sbxTick(now time.Time) bool {
	switch atomic.LoadInt32(&l.state) {
	case sbxLeaseInitializing:
		if !l.errorAt.IsZero() && !now.Before(l.errorAt) {
			l.sbxSetError(sbxLocalized(&types.SystemError{Reason: "injected sandbox fault"}, "Export lease failed (injected sandbox fault)"))
			return true
		}
		if !now.Before(l.readyAt) {
			if l.initFault != nil {
				l.sbxSetError(l.initFault)
				return true
			}
			l.sbxSetReady(now)
		}
	case sbxLeaseReady:
		if !l.errorAt.IsZero() && !now.Before(l.errorAt) {
			l.sbxSetError(sbxLocalized(&types.SystemError{Reason: "injected sandbox fault"}, "Export lease failed (injected sandbox fault)"))
			return true
		}
		if !now.Before(l.deadline) {
			l.sbxSetError(sbxLocalized(&types.Timedout{}, "Operation timed out: the export lease was not renewed within its timeout"))
			return true
		}
	}
	return false
}

func sbxActiveLeases() []*sandboxLease {
	sbx.mu.Lock()
	defer sbx.mu.Unlock()
	out := make([]*sandboxLease, 0, len(sbx.leasedVMs))
	for _, l := range sbx.leasedVMs {
		out = append(out, l)
	}
	return out
}

func sbxReaper() {
	t := time.NewTicker(25 * time.Millisecond)
	defer t.Stop()
	for now := range t.C {
		for _, l := range sbxActiveLeases() {
			terminal := false
			l.withLock(func() { terminal = l.sbxTick(now) })
			if terminal {
				l.sbxRelease()
			}
		}
	}
}

// sbxApplyLeaseErrorFault schedules the lease_error_after_seconds fault on active leases.
func sbxApplyLeaseErrorFault() {
	f := sbxFaults()
	if f.LeaseErrorAfterSeconds == nil {
		return
	}
	at := time.Now().Add(sbxDuration(*f.LeaseErrorAfterSeconds))
	for _, l := range sbxActiveLeases() {
		l.withLock(func() {
			if l.errorAt.IsZero() || at.Before(l.errorAt) {
				l.errorAt = at
			}
		})
	}
}

// sbxResetLeases puts every active lease in error and forgets all leases, so
// the /sandbox/leases listing starts empty (used between tests). The lease
// objects stay in the inventory: clients holding a reference can still read them.
func sbxResetLeases() {
	sbxAbortAllLeases()
	sbx.mu.Lock()
	for ref, l := range sbx.leases {
		if l.released {
			delete(sbx.leases, ref)
		}
	}
	sbx.mu.Unlock()
}

// sbxAbortAllLeases puts every active lease in error.
func sbxAbortAllLeases() {
	for _, l := range sbxActiveLeases() {
		terminal := false
		l.withLock(func() {
			switch atomic.LoadInt32(&l.state) {
			case sbxLeaseInitializing, sbxLeaseReady:
				l.sbxSetError(sbxLocalized(&types.RequestCanceled{}, "Lease aborted through the sandbox control API"))
				terminal = true
			}
		})
		if terminal {
			l.sbxRelease()
		}
	}
}

func (l *sandboxLease) sbxStateFault(what string) *soap.Fault {
	if l.Error != nil && l.Error.Fault != nil {
		return Fault(l.Error.LocalizedMessage, l.Error.Fault)
	}
	return Fault(fmt.Sprintf("Cannot %s: lease is %s", what, l.State), &types.InvalidState{})
}

func (l *sandboxLease) HttpNfcLeaseProgress(ctx *Context, req *types.HttpNfcLeaseProgress) soap.HasFault {
	body := &methods.HttpNfcLeaseProgressBody{}
	switch atomic.LoadInt32(&l.state) {
	case sbxLeaseReady:
		l.deadline = time.Now().Add(l.timeout)
		Map.Update(l, []types.PropertyChange{{Name: "transferProgress", Val: req.Percent}})
	case sbxLeaseInitializing:
		// accepted, nothing to renew yet
	default:
		body.Fault_ = l.sbxStateFault("report progress")
		return body
	}
	body.Res = &types.HttpNfcLeaseProgressResponse{}
	return body
}

func (l *sandboxLease) HttpNfcLeaseComplete(ctx *Context, req *types.HttpNfcLeaseComplete) soap.HasFault {
	body := &methods.HttpNfcLeaseCompleteBody{}
	switch atomic.LoadInt32(&l.state) {
	case sbxLeaseReady:
		l.sbxSetDone()
		l.sbxRelease()
	case sbxLeaseDone:
	case sbxLeaseInitializing:
		body.Fault_ = Fault("Cannot complete: lease is still initializing", &types.InvalidState{})
		return body
	default:
		body.Fault_ = l.sbxStateFault("complete")
		return body
	}
	body.Res = &types.HttpNfcLeaseCompleteResponse{}
	return body
}

func (l *sandboxLease) HttpNfcLeaseAbort(ctx *Context, req *types.HttpNfcLeaseAbort) soap.HasFault {
	body := &methods.HttpNfcLeaseAbortBody{}
	switch atomic.LoadInt32(&l.state) {
	case sbxLeaseInitializing, sbxLeaseReady:
		f := req.Fault
		if f == nil {
			f = sbxLocalized(&types.RequestCanceled{}, "The export was aborted by the client")
		}
		l.sbxSetError(f)
		l.sbxRelease()
	case sbxLeaseError:
	default:
		body.Fault_ = Fault("Cannot abort: lease is done", &types.InvalidState{})
		return body
	}
	body.Res = &types.HttpNfcLeaseAbortResponse{}
	return body
}

func sbxLeasesJSON() []map[string]interface{} {
	sbx.mu.Lock()
	all := make([]*sandboxLease, 0, len(sbx.leases))
	for _, l := range sbx.leases {
		all = append(all, l)
	}
	sbx.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].created.Before(all[j].created) })
	out := make([]map[string]interface{}, 0, len(all))
	for _, l := range all {
		var disks []map[string]interface{}
		for _, d := range l.disks {
			disks = append(disks, map[string]interface{}{
				"name": d.name, "device_key": d.deviceKey,
				"capacity_bytes": d.vmdk.capacityBytes, "stream_bytes": d.vmdk.size,
			})
		}
		servedBy := "vcenter"
		sbx.mu.Lock()
		if ep := sbx.esx[l.servedBy]; ep != nil {
			servedBy = ep.name
		}
		sbx.mu.Unlock()
		out = append(out, map[string]interface{}{
			"served_by":    servedBy,
			"id":           l.Self.Value,
			"ticket":       l.ticket,
			"vm":           l.vm.Value,
			"vm_name":      l.vmName,
			"state":        string(sbxStateName(atomic.LoadInt32(&l.state))),
			"bytes_served": atomic.LoadInt64(&l.bytesServed),
			"downloads":    atomic.LoadInt64(&l.downloads),
			"timeout":      l.timeout.Seconds(),
			"disks":        disks,
		})
	}
	return out
}
