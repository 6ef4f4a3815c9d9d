// vCenter sandbox overlay: AuthorizationManager fixes.
//
// Compiled into github.com/vmware/govmomi/simulator with `go build -overlay`.
// govmomi 0.24's AuthorizationManager answers "granted" to every privilege
// query, replaces (rather than merges) permissions in SetEntityPermissions,
// leaves Permission.entity as sent by the client, returns non-propagating
// ancestor permissions as inherited and does not return the new role id from
// AddAuthorizationRole. sandboxAuthz wraps it (by value, so the property
// collector still finds the embedded mo type) and overrides those methods.
package simulator

import (
	"fmt"
	"sort"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type sandboxAuthz struct {
	AuthorizationManager
}

func sbxInstallAuthz() {
	ref := Map.content().AuthorizationManager
	if ref == nil {
		return
	}
	orig, ok := Map.Get(*ref).(*AuthorizationManager)
	if !ok {
		return
	}
	Map.Put(&sandboxAuthz{AuthorizationManager: *orig})
}

func sbxAuthz() *sandboxAuthz {
	ref := Map.content().AuthorizationManager
	if ref == nil {
		return nil
	}
	m, _ := Map.Get(*ref).(*sandboxAuthz)
	return m
}

// SandboxAddPrincipal adds a user or group to the UserDirectory search results.
func SandboxAddPrincipal(principal, fullName string, group bool) {
	u := Map.UserDirectory()
	Map.WithLock(u, func() {
		list := make([]*types.UserSearchResult, 0, len(u.userGroup)+1)
		list = append(list, u.userGroup...)
		list = append(list, &types.UserSearchResult{Principal: principal, FullName: fullName, Group: group})
		u.userGroup = list
	})
}

// sbxHasPrivilege is used by ExportVm; takes the AuthorizationManager lock.
func sbxHasPrivilege(entity types.ManagedObjectReference, user string, priv string) bool {
	m := sbxAuthz()
	if m == nil {
		return true
	}
	granted := false
	Map.WithLock(m, func() {
		_, granted = m.effectivePrivileges(entity, user)[priv]
	})
	return granted
}

func sbxGroupsOf(user string) []string {
	var out []string
	for group, members := range sbx.cfg.Groups {
		for _, member := range members {
			if sbxSamePrincipal(member, user) {
				out = append(out, group)
				break
			}
		}
	}
	return out
}

// effectiveRoles applies vSphere's rules: walk from the entity to the root; at
// the nearest level with a matching permission (the entity's own, or a
// propagating one on an ancestor) user permissions win over group permissions,
// and several group permissions at that level are unioned.
func (m *sandboxAuthz) effectiveRoles(entity types.ManagedObjectReference, user string) []int32 {
	groups := sbxGroupsOf(user)
	cur := entity
	first := true
	for {
		var userRoles, groupRoles []int32
		for _, p := range m.permissions[cur] {
			if !first && !p.Propagate {
				continue
			}
			if p.Group {
				for _, g := range groups {
					if sbxSamePrincipal(p.Principal, g) {
						groupRoles = append(groupRoles, p.RoleId)
					}
				}
			} else if sbxSamePrincipal(p.Principal, user) {
				userRoles = append(userRoles, p.RoleId)
			}
		}
		if len(userRoles) > 0 {
			return userRoles
		}
		if len(groupRoles) > 0 {
			return groupRoles
		}
		e, ok := Map.Get(cur).(mo.Entity)
		if !ok || e.Entity().Parent == nil {
			return nil
		}
		cur = *e.Entity().Parent
		first = false
	}
}

func (m *sandboxAuthz) effectivePrivileges(entity types.ManagedObjectReference, user string) map[string]struct{} {
	out := map[string]struct{}{}
	roles := object.AuthorizationRoleList(m.RoleList)
	for _, id := range m.effectiveRoles(entity, user) {
		if r := roles.ById(id); r != nil {
			for _, p := range r.Privilege {
				out[p] = struct{}{}
			}
		}
	}
	return out
}

func (m *sandboxAuthz) sortedPrivileges(entity types.ManagedObjectReference, user string) []string {
	set := m.effectivePrivileges(entity, user)
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (m *sandboxAuthz) entityPrivileges(entities []types.ManagedObjectReference, user string, ids []string) []types.EntityPrivilege {
	var res []types.EntityPrivilege
	for _, e := range entities {
		set := m.effectivePrivileges(e, user)
		ep := types.EntityPrivilege{Entity: e}
		for _, id := range ids {
			_, ok := set[id]
			ep.PrivAvailability = append(ep.PrivAvailability, types.PrivilegeAvailability{PrivId: id, IsGranted: ok})
		}
		res = append(res, ep)
	}
	return res
}

func sbxSessionUser(ctx *Context, sessionID string) string {
	if sessionID != "" {
		if s, ok := Map.SessionManager().getSession(sessionID); ok {
			return s.UserName
		}
	}
	if ctx.Session != nil {
		return ctx.Session.UserName
	}
	return ""
}

func (m *sandboxAuthz) HasUserPrivilegeOnEntities(req *types.HasUserPrivilegeOnEntities) soap.HasFault {
	return &methods.HasUserPrivilegeOnEntitiesBody{
		Res: &types.HasUserPrivilegeOnEntitiesResponse{Returnval: m.entityPrivileges(req.Entities, req.UserName, req.PrivId)},
	}
}

func (m *sandboxAuthz) HasPrivilegeOnEntities(ctx *Context, req *types.HasPrivilegeOnEntities) soap.HasFault {
	user := sbxSessionUser(ctx, req.SessionId)
	return &methods.HasPrivilegeOnEntitiesBody{
		Res: &types.HasPrivilegeOnEntitiesResponse{Returnval: m.entityPrivileges(req.Entity, user, req.PrivId)},
	}
}

func (m *sandboxAuthz) HasPrivilegeOnEntity(ctx *Context, req *types.HasPrivilegeOnEntity) soap.HasFault {
	user := sbxSessionUser(ctx, req.SessionId)
	set := m.effectivePrivileges(req.Entity, user)
	res := make([]bool, len(req.PrivId))
	for i, id := range req.PrivId {
		_, res[i] = set[id]
	}
	return &methods.HasPrivilegeOnEntityBody{Res: &types.HasPrivilegeOnEntityResponse{Returnval: res}}
}

func (m *sandboxAuthz) FetchUserPrivilegeOnEntities(req *types.FetchUserPrivilegeOnEntities) soap.HasFault {
	var res []types.UserPrivilegeResult
	for _, e := range req.Entities {
		res = append(res, types.UserPrivilegeResult{Entity: e, Privileges: m.sortedPrivileges(e, req.UserName)})
	}
	return &methods.FetchUserPrivilegeOnEntitiesBody{
		Res: &types.FetchUserPrivilegeOnEntitiesResponse{Returnval: res},
	}
}

func (m *sandboxAuthz) RetrieveEntityPermissions(req *types.RetrieveEntityPermissions) soap.HasFault {
	body := &methods.RetrieveEntityPermissionsBody{}
	obj := Map.Get(req.Entity)
	if obj == nil {
		body.Fault_ = Fault("", &types.ManagedObjectNotFound{Obj: req.Entity})
		return body
	}
	res := append([]types.Permission(nil), m.permissions[req.Entity]...)
	if req.Inherited {
		e, ok := obj.(mo.Entity)
		for ok && e.Entity().Parent != nil {
			parent := *e.Entity().Parent
			for _, p := range m.permissions[parent] {
				if p.Propagate {
					res = append(res, p)
				}
			}
			e, ok = Map.Get(parent).(mo.Entity)
		}
	}
	body.Res = &types.RetrieveEntityPermissionsResponse{Returnval: res}
	return body
}

func (m *sandboxAuthz) SetEntityPermissions(req *types.SetEntityPermissions) soap.HasFault {
	body := &methods.SetEntityPermissionsBody{}
	if Map.Get(req.Entity) == nil {
		body.Fault_ = Fault("", &types.ManagedObjectNotFound{Obj: req.Entity})
		return body
	}
	roles := object.AuthorizationRoleList(m.RoleList)
	for _, p := range req.Permission {
		if roles.ById(p.RoleId) == nil {
			body.Fault_ = Fault(fmt.Sprintf("role %d not found", p.RoleId), &types.NotFound{})
			return body
		}
		if p.Principal == "" {
			body.Fault_ = Fault("", &types.InvalidArgument{InvalidProperty: "principal"})
			return body
		}
	}
	current := m.permissions[req.Entity]
	for _, p := range req.Permission {
		entity := req.Entity
		p.Entity = &entity
		replaced := false
		for i := range current {
			if current[i].Group == p.Group && sbxSamePrincipal(current[i].Principal, p.Principal) {
				current[i] = p
				replaced = true
			}
		}
		if !replaced {
			current = append(current, p)
		}
	}
	m.permissions[req.Entity] = current
	body.Res = &types.SetEntityPermissionsResponse{}
	return body
}

func (m *sandboxAuthz) RemoveEntityPermission(req *types.RemoveEntityPermission) soap.HasFault {
	body := &methods.RemoveEntityPermissionBody{}
	var keep []types.Permission
	removed := false
	for _, p := range m.permissions[req.Entity] {
		if p.Group == req.IsGroup && sbxSamePrincipal(p.Principal, req.User) {
			removed = true
			continue
		}
		keep = append(keep, p)
	}
	if !removed {
		body.Fault_ = Fault("permission not found", &types.NotFound{})
		return body
	}
	m.permissions[req.Entity] = keep
	body.Res = &types.RemoveEntityPermissionResponse{}
	return body
}

func (m *sandboxAuthz) AddAuthorizationRole(req *types.AddAuthorizationRole) soap.HasFault {
	body := &methods.AddAuthorizationRoleBody{}
	for _, role := range m.RoleList {
		if role.Name == req.Name {
			body.Fault_ = Fault("", &types.AlreadyExists{Name: req.Name})
			return body
		}
	}
	ids, err := m.privIDs(req.PrivIds)
	if err != nil {
		body.Fault_ = err
		return body
	}
	next := int32(100)
	for _, role := range m.RoleList {
		if role.RoleId >= next {
			next = role.RoleId + 1
		}
	}
	m.RoleList = append(m.RoleList, types.AuthorizationRole{
		Info:      &types.Description{Label: req.Name, Summary: req.Name},
		RoleId:    next,
		Privilege: ids,
		Name:      req.Name,
		System:    false,
	})
	body.Res = &types.AddAuthorizationRoleResponse{Returnval: next}
	return body
}
