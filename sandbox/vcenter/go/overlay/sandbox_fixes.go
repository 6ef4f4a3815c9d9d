// vCenter sandbox overlay: small fixes to govmomi 0.24's simulator.
//
// Compiled into github.com/vmware/govmomi/simulator with `go build -overlay`.
//
// PropertyCollector.Fetch (what pyVmomi uses to read a single property, e.g.
// `lease.info`) panics with "index out of range" when the property is unset:
// RetrievePropertiesEx then returns neither a value nor a MissingSet entry.
// sandboxPC wraps the collector (by value: the registry clones it per session
// through reflection, and the property collector still finds the embedded mo
// type) and answers such reads with an empty value, as vCenter does.
package simulator

import (
	"github.com/vmware/govmomi/simulator/internal"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type sandboxPC struct {
	PropertyCollector
}

func sbxInstallFixes() {
	ref := Map.content().PropertyCollector
	if orig, ok := Map.Get(ref).(*PropertyCollector); ok {
		pc := &sandboxPC{}
		pc.PropertyCollector.PropertyCollector = orig.PropertyCollector
		Map.Put(pc)
	}
}

func (pc *sandboxPC) Fetch(ctx *Context, req *internal.Fetch) soap.HasFault {
	if (req.This == vim25.ServiceInstance && req.Prop == "content") || ctx.Map.Get(req.This) == nil {
		return pc.PropertyCollector.Fetch(ctx, req)
	}
	res := pc.RetrievePropertiesEx(ctx, &types.RetrievePropertiesEx{
		SpecSet: []types.PropertyFilterSpec{{
			PropSet:   []types.PropertySpec{{Type: req.This.Type, PathSet: []string{req.Prop}}},
			ObjectSet: []types.ObjectSpec{{Obj: req.This}},
		}},
	})
	if res.Fault() != nil {
		return res
	}
	body := new(internal.FetchBody)
	r := res.(*methods.RetrievePropertiesExBody).Res
	if r == nil || r.Returnval == nil || len(r.Returnval.Objects) == 0 {
		body.Fault_ = Fault("", &types.ManagedObjectNotFound{Obj: req.This})
		return body
	}
	obj := r.Returnval.Objects[0]
	switch {
	case len(obj.PropSet) > 0:
		body.Res = &internal.FetchResponse{Returnval: obj.PropSet[0].Val}
	case len(obj.MissingSet) > 0:
		f := obj.MissingSet[0].Fault
		body.Fault_ = Fault(f.LocalizedMessage, f.Fault)
	default: // property exists but is unset
		body.Res = &internal.FetchResponse{}
	}
	return body
}
