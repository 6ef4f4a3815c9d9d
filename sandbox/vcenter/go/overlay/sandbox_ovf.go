// vCenter sandbox overlay: OvfManager.CreateDescriptor.
//
// Compiled into github.com/vmware/govmomi/simulator with `go build -overlay`.
// govmomi 0.24 answers MethodNotFound, so export tools (govc export.ovf,
// ovftool) fail after downloading the disks. This writes an OVF 1.0 envelope
// for a VM the way vCenter does: References from cdp.ovfFiles (the files the
// client downloaded, matched to disks by deviceId, the lease's device key),
// DiskSection, NetworkSection and one VirtualSystem with its hardware.
package simulator

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

type sandboxOvf struct {
	OvfManager
}

func sbxInstallOvf() {
	ref := Map.content().OvfManager
	if ref == nil {
		return
	}
	if orig, ok := Map.Get(*ref).(*OvfManager); ok {
		Map.Put(&sandboxOvf{OvfManager: *orig})
	}
}

func sbxEsc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// CIM ResourceSubType names vCenter writes for controllers and NICs.
var sbxOvfSubtypes = map[string]string{
	"VirtualLsiLogicController": "lsilogic", "ParaVirtualSCSIController": "VirtualSCSI",
	"VirtualLsiLogicSASController": "lsilogicsas", "VirtualBusLogicController": "buslogic",
	"VirtualAHCIController": "vmware.sata.ahci", "VirtualNVMEController": "vmware.nvme.controller",
	"VirtualVmxnet3": "VmxNet3", "VirtualE1000": "E1000", "VirtualE1000e": "E1000e",
	"VirtualPCNet32": "PCNet32", "VirtualVmxnet2": "Vmxnet2",
}

func (m *sandboxOvf) CreateDescriptor(ctx *Context, req *types.CreateDescriptor) soap.HasFault {
	body := &methods.CreateDescriptorBody{}
	vm, ok := Map.Get(req.Obj).(*VirtualMachine)
	if !ok {
		if Map.Get(req.Obj) == nil {
			body.Fault_ = Fault("", &types.ManagedObjectNotFound{Obj: req.Obj})
		} else {
			body.Fault_ = Fault("only virtual machines can be described", &types.NotSupported{})
		}
		return body
	}
	var desc string
	Map.WithLock(vm, func() { desc = sbxOvfDescriptor(vm, &req.Cdp) })
	body.Res = &types.CreateDescriptorResponse{Returnval: types.OvfCreateDescriptorResult{OvfDescriptor: desc}}
	return body
}

func sbxOvfDescriptor(vm *VirtualMachine, cdp *types.OvfCreateDescriptorParams) string {
	name := cdp.Name
	if name == "" {
		name = vm.Name
	}
	devices := object.VirtualDeviceList(vm.Config.Hardware.Device)
	files := map[string]types.OvfFile{}
	for _, f := range cdp.OvfFiles {
		files[f.DeviceId] = f
	}

	var refs, disks, items, nets strings.Builder
	instance := 0
	next := func() int { instance++; return instance }
	item := func(fields ...string) { // rasd elements, in the schema's alphabetical order
		items.WriteString("      <Item>\n")
		for i := 0; i+1 < len(fields); i += 2 {
			if fields[i+1] != "" {
				fmt.Fprintf(&items, "        <rasd:%s>%s</rasd:%s>\n", fields[i], sbxEsc(fields[i+1]), fields[i])
			}
		}
		items.WriteString("      </Item>\n")
	}
	item("AllocationUnits", "hertz * 10^6", "Description", "Number of Virtual CPUs",
		"ElementName", fmt.Sprintf("%d virtual CPU(s)", vm.Config.Hardware.NumCPU),
		"InstanceID", fmt.Sprint(next()), "ResourceType", "3", "VirtualQuantity", fmt.Sprint(vm.Config.Hardware.NumCPU))
	item("AllocationUnits", "byte * 2^20", "Description", "Memory Size",
		"ElementName", fmt.Sprintf("%dMB of memory", vm.Config.Hardware.MemoryMB),
		"InstanceID", fmt.Sprint(next()), "ResourceType", "4", "VirtualQuantity", fmt.Sprint(vm.Config.Hardware.MemoryMB))

	controllers := map[int32]int{}
	for _, d := range devices.SelectByType((*types.VirtualController)(nil)) {
		c := d.(types.BaseVirtualController).GetVirtualController()
		kind := devices.Type(d)
		switch {
		case strings.Contains(kind, "ide"):
			controllers[c.Key] = next()
			item("Address", fmt.Sprint(c.BusNumber), "Description", "IDE Controller",
				"ElementName", fmt.Sprintf("IDE %d", c.BusNumber), "InstanceID", fmt.Sprint(instance), "ResourceType", "5")
		case sbxOvfSubtypes[sbxTypeName(d)] != "":
			controllers[c.Key] = next()
			rtype, label := "6", "SCSI Controller"
			if strings.HasPrefix(sbxOvfSubtypes[sbxTypeName(d)], "vmware.") {
				rtype, label = "20", "SATA/NVMe Controller"
			}
			item("Address", fmt.Sprint(c.BusNumber), "Description", label,
				"ElementName", fmt.Sprintf("%s %d", label, c.BusNumber), "InstanceID", fmt.Sprint(instance),
				"ResourceSubType", sbxOvfSubtypes[sbxTypeName(d)], "ResourceType", rtype)
		}
	}

	n := 0
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		disk := d.(*types.VirtualDisk)
		if rdm, ok := disk.Backing.(*types.VirtualDiskRawDiskMappingVer1BackingInfo); ok &&
			rdm.CompatibilityMode == string(types.VirtualDiskCompatibilityModePhysicalMode) {
			continue // not exportable (the lease refuses it too)
		}
		_, path := sbxAdapterType(devices, disk)
		key := fmt.Sprintf("/%s/%s", vm.Self.Value, path)
		f, downloaded := files[key]
		if len(cdp.OvfFiles) > 0 && !downloaded {
			continue // ovfFiles is "a positive list of files to include"
		}
		n++
		fileRef := ""
		if downloaded {
			fileRef = fmt.Sprintf("file%d", n)
			fmt.Fprintf(&refs, "    <File ovf:href=\"%s\" ovf:id=\"%s\" ovf:size=\"%d\"/>\n", sbxEsc(f.Path), fileRef, f.Size)
			fileRef = fmt.Sprintf(" ovf:fileRef=\"%s\"", fileRef)
		}
		fmt.Fprintf(&disks, "    <Disk ovf:capacity=\"%d\" ovf:capacityAllocationUnits=\"byte\" ovf:diskId=\"vmdisk%d\"%s "+
			"ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"/>\n",
			getDiskSize(disk), n, fileRef)
		unit := int32(0)
		if disk.UnitNumber != nil {
			unit = *disk.UnitNumber
		}
		label := fmt.Sprintf("Hard disk %d", n)
		if disk.DeviceInfo != nil {
			label = disk.DeviceInfo.GetDescription().Label
		}
		item("AddressOnParent", fmt.Sprint(unit), "ElementName", label, "HostResource", fmt.Sprintf("ovf:/disk/vmdisk%d", n),
			"InstanceID", fmt.Sprint(next()), "Parent", fmt.Sprint(controllers[disk.ControllerKey]), "ResourceType", "17")
	}

	seen := map[string]bool{}
	nic := 0
	for _, d := range devices.SelectByType((*types.VirtualEthernetCard)(nil)) {
		network := sbxNetworkName(d.GetVirtualDevice().Backing)
		if network != "" && !seen[network] {
			seen[network] = true
			fmt.Fprintf(&nets, "    <Network ovf:name=\"%s\">\n      <Description>The %s network</Description>\n    </Network>\n",
				sbxEsc(network), sbxEsc(network))
		}
		nic++
		item("AddressOnParent", fmt.Sprint(6+nic), "AutomaticAllocation", "true", "Connection", network,
			"ElementName", fmt.Sprintf("Network adapter %d", nic), "InstanceID", fmt.Sprint(next()),
			"ResourceSubType", sbxOvfSubtypes[sbxTypeName(d)], "ResourceType", "10")
	}

	var out strings.Builder
	out.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" ` +
		`xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" ` +
		`xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" ` +
		`xmlns:vmw="http://www.vmware.com/schema/ovf" ` +
		`xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" ` +
		`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
`)
	out.WriteString(refs.String())
	out.WriteString("  </References>\n  <DiskSection>\n    <Info>Virtual disk information</Info>\n")
	out.WriteString(disks.String())
	out.WriteString("  </DiskSection>\n  <NetworkSection>\n    <Info>The list of logical networks</Info>\n")
	out.WriteString(nets.String())
	out.WriteString("  </NetworkSection>\n")
	fmt.Fprintf(&out, "  <VirtualSystem ovf:id=\"%s\">\n    <Info>A virtual machine</Info>\n    <Name>%s</Name>\n", sbxEsc(name), sbxEsc(name))
	if annotation := cdp.Description; annotation != "" || vm.Config.Annotation != "" {
		if annotation == "" {
			annotation = vm.Config.Annotation
		}
		fmt.Fprintf(&out, "    <AnnotationSection>\n      <Info>A human-readable annotation</Info>\n      <Annotation>%s</Annotation>\n    </AnnotationSection>\n", sbxEsc(annotation))
	}
	fmt.Fprintf(&out, "    <OperatingSystemSection ovf:id=\"1\" vmw:osType=\"%s\">\n      <Info>The kind of installed guest operating system</Info>\n    </OperatingSystemSection>\n", sbxEsc(vm.Config.GuestId))
	fmt.Fprintf(&out, "    <VirtualHardwareSection>\n      <Info>Virtual hardware requirements</Info>\n      <System>\n"+
		"        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n        <vssd:InstanceID>0</vssd:InstanceID>\n"+
		"        <vssd:VirtualSystemIdentifier>%s</vssd:VirtualSystemIdentifier>\n        <vssd:VirtualSystemType>%s</vssd:VirtualSystemType>\n      </System>\n",
		sbxEsc(name), sbxEsc(vm.Config.Version))
	out.WriteString(items.String())
	if vm.Config.Firmware != "" {
		fmt.Fprintf(&out, "      <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"%s\"/>\n", sbxEsc(vm.Config.Firmware))
	}
	out.WriteString("    </VirtualHardwareSection>\n  </VirtualSystem>\n</Envelope>\n")
	return out.String()
}

func sbxTypeName(d types.BaseVirtualDevice) string {
	name := fmt.Sprintf("%T", d)
	return name[strings.LastIndex(name, ".")+1:]
}

func sbxNetworkName(backing types.BaseVirtualDeviceBackingInfo) string {
	switch b := backing.(type) {
	case *types.VirtualEthernetCardNetworkBackingInfo:
		return b.DeviceName
	case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
		for _, e := range Map.All("DistributedVirtualPortgroup") {
			if pg, ok := e.(*DistributedVirtualPortgroup); ok && pg.Key == b.Port.PortgroupKey {
				return pg.Name
			}
		}
	}
	return ""
}
