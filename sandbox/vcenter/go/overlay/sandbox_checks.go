// vCenter sandbox overlay: what vCenter checks before it runs a SOAP call.
//
// Compiled into github.com/vmware/govmomi/simulator with `go build -overlay`.
// govmomi 0.24 lets a caller without a session read properties and lets any
// logged-in user call any method. vCenter answers NotAuthenticated to every
// call but the login ones when the session is missing or expired, and
// NoPermission when the session user lacks the method's "Required Privilege"
// (vSphere Web Services API reference) on the entity. The session-expiry fault
// switch and the /sandbox/sessions control endpoint live here too.
package simulator

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Calls vCenter answers without a session.
var sbxAnonymousMethods = map[string]bool{
	"RetrieveServiceContent": true, "PbmRetrieveServiceContent": true, "CurrentTime": true,
	"Login": true, "LoginByToken": true, "LoginExtensionByCertificate": true,
	"LoginExtensionBySubjectName": true, "LoginExtensionByCertificateAndToken": true,
}

// VirtualMachine methods and the privilege each needs on the VM.
var sbxVMPrivileges = map[string]string{
	"PowerOffVM_Task":     "VirtualMachine.Interact.PowerOff",
	"PowerOnVM_Task":      "VirtualMachine.Interact.PowerOn",
	"ResetVM_Task":        "VirtualMachine.Interact.Reset",
	"SuspendVM_Task":      "VirtualMachine.Interact.Suspend",
	"ShutdownGuest":       "VirtualMachine.Interact.PowerOff",
	"RebootGuest":         "VirtualMachine.Interact.Reset",
	"StandbyGuest":        "VirtualMachine.Interact.Suspend",
	"Destroy_Task":        "VirtualMachine.Inventory.Delete",
	"UnregisterVM":        "VirtualMachine.Inventory.Unregister",
	"ReconfigVM_Task":     "VirtualMachine.Config.Settings",
	"CreateSnapshot_Task": "VirtualMachine.State.CreateSnapshot",
	"RelocateVM_Task":     "Resource.ColdMigrate",
	"MigrateVM_Task":      "Resource.HotMigrate",
	"CloneVM_Task":        "VirtualMachine.Provisioning.Clone",
	"MarkAsTemplate":      "VirtualMachine.Provisioning.MarkAsTemplate",
	"RenameObject":        "VirtualMachine.Config.Rename",
}

func sbxRequestSession(r *http.Request) *Session {
	cookie, err := r.Cookie(soap.SessionCookieName)
	if err != nil || cookie.Value == "" {
		return nil
	}
	s, ok := sbx.svc.sm.getSession(cookie.Value)
	if !ok {
		return nil
	}
	return &s
}

func sbxNotAuthenticated(this types.ManagedObjectReference) *soap.Fault {
	return Fault("The session is not authenticated.",
		&types.NotAuthenticated{NoPermission: types.NoPermission{Object: this, PrivilegeId: "System.View"}})
}

// sbxCheckSession refuses calls without a live session and applies the
// session_expire_after_calls fault.
func sbxCheckSession(method *Method, session *Session) *soap.Fault {
	if sbxAnonymousMethods[method.Name] || (method.Name == "Fetch" && method.This.Type == "ServiceInstance") {
		return nil // pyVmomi reads ServiceInstance.content with Fetch before it logs in
	}
	if session == nil {
		return sbxNotAuthenticated(method.This)
	}
	expire := false
	sbx.mu.Lock()
	if n := sbx.faults.SessionExpireAfterCalls; n != nil {
		if *n <= 0 {
			expire = true
			sbx.faults.SessionExpireAfterCalls = nil
		} else {
			left := *n - 1
			sbx.faults.SessionExpireAfterCalls = &left
		}
	}
	sbx.mu.Unlock()
	if expire {
		sbx.svc.sm.delSession(session.Key)
		return sbxNotAuthenticated(method.This)
	}
	return nil
}

// sbxRequiredPrivileges lists the (entity, privilege) pairs a call needs.
func sbxRequiredPrivileges(method *Method) [][2]interface{} {
	var out [][2]interface{}
	need := func(e types.ManagedObjectReference, p string) { out = append(out, [2]interface{}{e, p}) }
	root := Map.content().RootFolder
	switch req := method.Body.(type) {
	case *types.PowerOnMultiVM_Task:
		for _, vm := range req.Vm {
			need(vm, "VirtualMachine.Interact.PowerOn")
		}
	case *types.SetEntityPermissions:
		need(req.Entity, "Authorization.ModifyPermissions")
	case *types.RemoveEntityPermission:
		need(req.Entity, "Authorization.ModifyPermissions")
	case *types.ResetEntityPermissions:
		need(req.Entity, "Authorization.ModifyPermissions")
	case *types.RetrieveEntityPermissions:
		need(req.Entity, "System.Read")
	case *types.AddAuthorizationRole, *types.RemoveAuthorizationRole, *types.UpdateAuthorizationRole:
		need(root, "Authorization.ModifyRoles")
	case *types.MergePermissions:
		need(root, "Authorization.ReassignRolePermissions")
	case *types.CreateDescriptor:
		need(req.Obj, "VApp.Export")
	case *types.CreateFolder:
		need(req.This, "Folder.Create")
	case *types.SearchDatastore_Task:
		if ds := sbxBrowsedDatastore(req.This, req.DatastorePath); ds != nil {
			need(*ds, "Datastore.Browse")
		}
	case *types.SearchDatastoreSubFolders_Task:
		if ds := sbxBrowsedDatastore(req.This, req.DatastorePath); ds != nil {
			need(*ds, "Datastore.Browse")
		}
	case *types.MakeDirectory:
		if ds := sbxPathDatastore(req.Datacenter, req.Name); ds != nil {
			need(*ds, "Datastore.FileManagement")
		}
	default:
		if method.This.Type == "VirtualMachine" {
			if p, ok := sbxVMPrivileges[method.Name]; ok {
				need(method.This, p)
			}
		}
	}
	return out
}

func sbxCheckPrivileges(method *Method, session *Session) *soap.Fault {
	if !sbx.cfg.EnforcePrivileges || session == nil {
		return nil
	}
	for _, req := range sbxRequiredPrivileges(method) {
		entity, priv := req[0].(types.ManagedObjectReference), req[1].(string)
		if Map.Get(entity) == nil {
			continue // the library answers ManagedObjectNotFound
		}
		if !sbxHasPrivilege(entity, session.UserName, priv) {
			return Fault(fmt.Sprintf("Permission to perform this operation was denied (%s on %s).", priv, entity.Value),
				&types.NoPermission{Object: entity, PrivilegeId: priv})
		}
	}
	return nil
}

// sbxExpireSessions drops the live sessions (of one user when user != ""), as
// vCenter does when sessions time out or an administrator terminates them.
func sbxExpireSessions(user string) int {
	sm := sbx.svc.sm
	sessionMutex.Lock()
	defer sessionMutex.Unlock()
	n := 0
	for key, s := range sm.sessions {
		if user == "" || sbxSamePrincipal(s.UserName, user) {
			delete(sm.sessions, key)
			n++
		}
	}
	return n
}

func sbxSessionsJSON() []map[string]interface{} {
	sm := sbx.svc.sm
	sessionMutex.Lock()
	out := make([]map[string]interface{}, 0, len(sm.sessions))
	for _, s := range sm.sessions {
		out = append(out, map[string]interface{}{"user": s.UserName, "calls": s.CallCount})
	}
	sessionMutex.Unlock()
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]["user"]) < fmt.Sprint(out[j]["user"]) })
	return out
}

// sbxBrowsedDatastore is the datastore a "[name] path" names among those a
// HostDatastoreBrowser browses (nil: the library answers the fault).
func sbxBrowsedDatastore(browser types.ManagedObjectReference, dsPath string) *types.ManagedObjectReference {
	b, ok := Map.Get(browser).(*HostDatastoreBrowser)
	p, fault := parseDatastorePath(dsPath)
	if !ok || fault != nil {
		return nil
	}
	if ds := Map.FindByName(p.Datastore, b.Datastore); ds != nil {
		ref := ds.Reference()
		return &ref
	}
	return nil
}

// sbxPathDatastore is the datastore a "[name] path" names in a datacenter, as
// FileManager resolves it (nil for a URL or an unknown datastore: the library
// answers those).
func sbxPathDatastore(dc *types.ManagedObjectReference, dsPath string) *types.ManagedObjectReference {
	if dc == nil {
		return nil
	}
	d, ok := Map.Get(*dc).(*Datacenter)
	p, fault := parseDatastorePath(dsPath)
	if !ok || fault != nil {
		return nil
	}
	ds, fault := Map.FileManager().findDatastore(Map.Get(d.DatastoreFolder), p.Datastore)
	if fault != nil || ds == nil {
		return nil
	}
	return &ds.Self
}
