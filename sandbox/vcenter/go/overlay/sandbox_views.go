// vCenter sandbox overlay: container views show only what the user may see.
//
// Compiled into github.com/vmware/govmomi/simulator with `go build -overlay`.
// vCenter leaves out of inventory listings the objects on which the session
// user holds no permission (the vSphere Security guide: a user sees an object
// when a permission grants a role on it or on an object below it, the parents
// then showing as the way there); govmomi 0.24 lists everything.
// sandboxViews wraps the ViewManager (by value, as sandboxAuthz does) and
// filters each new ContainerView for its session's user.
package simulator

import (
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type sandboxViews struct {
	ViewManager
}

func sbxInstallViews() {
	ref := Map.content().ViewManager
	if ref == nil {
		return
	}
	if orig, ok := Map.Get(*ref).(*ViewManager); ok {
		Map.Put(&sandboxViews{ViewManager: *orig})
	}
}

func (m *sandboxViews) CreateContainerView(ctx *Context, req *types.CreateContainerView) soap.HasFault {
	res := m.ViewManager.CreateContainerView(ctx, req)
	body, ok := res.(*methods.CreateContainerViewBody)
	if !ok || body.Res == nil || ctx.Session == nil || !sbx.cfg.EnforcePrivileges {
		return res
	}
	view, ok := ctx.Session.Registry.Get(body.Res.Returnval).(*ContainerView)
	if !ok {
		return res
	}
	user := ctx.Session.UserName
	visible := view.View[:0]
	for _, ref := range view.View {
		if sbxVisible(ref, user, 0) {
			visible = append(visible, ref)
		}
	}
	view.View = visible
	return res
}

// sbxVisible: the user holds a role on the object, or on an object below it.
func sbxVisible(ref types.ManagedObjectReference, user string, depth int) bool {
	if sbxAnyPrivilege(ref, user) {
		return true
	}
	if depth > 32 {
		return false
	}
	// The way there runs through folders and datacenters only: compute
	// resources, hosts and resource pools hold VMs too, but are entities with
	// permissions of their own.
	if ref.Type != "Folder" && ref.Type != "Datacenter" {
		return false
	}
	obj := Map.Get(ref)
	if obj == nil {
		return false
	}
	found := false
	walk(obj, func(child types.ManagedObjectReference) {
		if !found && sbxVisible(child, user, depth+1) {
			found = true
		}
	})
	return found
}

func sbxAnyPrivilege(entity types.ManagedObjectReference, user string) bool {
	m := sbxAuthz()
	if m == nil {
		return true
	}
	any := false
	Map.WithLock(m, func() {
		any = len(m.effectivePrivileges(entity, user)) > 0
	})
	return any
}
