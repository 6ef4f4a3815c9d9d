package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// Inventory is the JSON document accepted by -inventory (see README.md).
type Inventory struct {
	ServiceAccount struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"service_account"`
	LeaseTimeoutSeconds    *float64        `json:"lease_timeout_seconds"`
	LeaseInitSeconds       *float64        `json:"lease_init_seconds"`
	DeviceURLHost          string          `json:"device_url_host"`
	EnforceExportPrivilege *bool           `json:"enforce_export_privilege"`
	EnforcePrivileges      *bool           `json:"enforce_privileges"`
	AllowAnyLogin          bool            `json:"allow_any_login"`
	Faults                 json.RawMessage `json:"faults"`
	Users                  []User          `json:"users"`
	Groups                 []Group         `json:"groups"`
	Roles                  []Role          `json:"roles"`
	Permissions            []Permission    `json:"permissions"`
	Datacenters            []Datacenter    `json:"datacenters"`
	Comment                json.RawMessage `json:"comment"`
}

type User struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	FullName string `json:"full_name"`
}

type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

type Role struct {
	Name       string   `json:"name"`
	Privileges []string `json:"privileges"`
}

type Permission struct {
	Entity    string `json:"entity"`
	Principal string `json:"principal"`
	Group     bool   `json:"group"`
	Role      string `json:"role"`
	Propagate *bool  `json:"propagate"`
}

type Datacenter struct {
	Name       string      `json:"name"`
	Folders    []string    `json:"folders"`
	Datastores []Datastore `json:"datastores"`
	Networks   []Network   `json:"networks"`
	Clusters   []Cluster   `json:"clusters"`
	Hosts      []HostSpec  `json:"hosts"`
	VMs        []VM        `json:"vms"`
}

type Datastore struct {
	Name       string   `json:"name"`
	CapacityGB float64  `json:"capacity_gb"`
	Hosts      []string `json:"hosts"`
}

type Network struct {
	Name        string `json:"name"`
	Distributed bool   `json:"distributed"`
	VlanID      int32  `json:"vlan_id"`
}

type Cluster struct {
	Name  string     `json:"name"`
	Hosts []HostSpec `json:"hosts"`
}

// HostSpec accepts "name" or {"name": "..."}.
type HostSpec struct {
	Name string `json:"name"`
}

func (h *HostSpec) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		h.Name = s
		return nil
	}
	type plain HostSpec
	return json.Unmarshal(b, (*plain)(h))
}

type VM struct {
	Name       string   `json:"name"`
	Folder     string   `json:"folder"`
	Cluster    string   `json:"cluster"`
	Host       string   `json:"host"`
	GuestID    string   `json:"guest_id"`
	PowerState string   `json:"power_state"`
	NumCPUs    int32    `json:"num_cpus"`
	MemoryMB   int64    `json:"memory_mb"`
	Annotation string   `json:"annotation"`
	Firmware   string   `json:"firmware"`
	Controller string   `json:"controller"`
	Networks   []string `json:"networks"`
	Disks      []Disk   `json:"disks"`
	Template   bool     `json:"template"`
}

type Disk struct {
	SizeBytes    int64    `json:"size_bytes"`
	SizeKB       int64    `json:"size_kb"`
	SizeMB       float64  `json:"size_mb"`
	SizeGB       float64  `json:"size_gb"`
	Datastore    string   `json:"datastore"`
	Thin         *bool    `json:"thin"`
	UsedFraction *float64 `json:"used_fraction"`
	Seed         *uint64  `json:"seed"`
	RDM          string   `json:"rdm"` // "", "physical" or "virtual"
}

func (d Disk) bytes() int64 {
	switch {
	case d.SizeBytes > 0:
		return d.SizeBytes
	case d.SizeKB > 0:
		return d.SizeKB * 1024
	case d.SizeMB > 0:
		return int64(d.SizeMB * 1024 * 1024)
	case d.SizeGB > 0:
		return int64(d.SizeGB * 1024 * 1024 * 1024)
	}
	return 16 * 1024 * 1024
}

func defaultInventory() *Inventory {
	inv := &Inventory{}
	_ = json.Unmarshal([]byte(`{
	  "datacenters": [{
	    "name": "DC0",
	    "datastores": [{"name": "datastore1", "capacity_gb": 1024}],
	    "clusters": [{"name": "Cluster0", "hosts": ["esx01.sandbox.local"]}],
	    "vms": [{"name": "vm01", "guest_id": "otherGuest64", "disks": [{"size_mb": 16}]}]
	  }]
	}`), inv)
	return inv
}

func (inv *Inventory) setDefaults() {
	if inv.ServiceAccount.Username == "" {
		inv.ServiceAccount.Username = "administrator@vsphere.local"
	}
	if inv.ServiceAccount.Password == "" {
		inv.ServiceAccount.Password = "Sandbox-Passw0rd!"
	}
	if inv.LeaseTimeoutSeconds == nil {
		v := 300.0
		inv.LeaseTimeoutSeconds = &v
	}
	if inv.LeaseInitSeconds == nil {
		v := 0.5
		inv.LeaseInitSeconds = &v
	}
	if inv.EnforceExportPrivilege == nil {
		v := true
		inv.EnforceExportPrivilege = &v
	}
	if inv.EnforcePrivileges == nil {
		v := true
		inv.EnforcePrivileges = &v
	}
}

type dcState struct {
	dc       *object.Datacenter
	folders  *object.DatacenterFolders
	vmFolder map[string]*object.Folder
	hosts    map[string]*object.HostSystem
	hostList []*object.HostSystem
	clusters map[string]*object.ClusterComputeResource
	cHosts   map[string][]*object.HostSystem
	dvs      *object.DistributedVirtualSwitch
	nets     map[string]types.BaseVirtualDeviceBackingInfo
	ds       map[string]types.ManagedObjectReference
	dsDir    map[string]string
}

func buildInventory(ctx context.Context, c *vim25.Client, inv *Inventory, workDir string) error {
	root := object.NewRootFolder(c)
	seenHosts := map[string]bool{}
	for _, dcSpec := range inv.Datacenters {
		if err := buildDatacenter(ctx, c, root, dcSpec, workDir, seenHosts); err != nil {
			return fmt.Errorf("datacenter %q: %w", dcSpec.Name, err)
		}
	}

	// users and groups
	for _, u := range inv.Users {
		full := u.FullName
		if full == "" {
			full = u.Name
		}
		simulator.SandboxAddPrincipal(u.Name, full, false)
	}
	for _, g := range inv.Groups {
		simulator.SandboxAddPrincipal(g.Name, g.Name, true)
	}

	am := object.NewAuthorizationManager(c)
	roleIDs := map[string]int32{}
	roles, err := am.RoleList(ctx)
	if err != nil {
		return err
	}
	for _, r := range roles {
		roleIDs[r.Name] = r.RoleId
	}
	for _, r := range inv.Roles {
		id, err := am.AddRole(ctx, r.Name, r.Privileges)
		if err != nil {
			return fmt.Errorf("role %q: %w", r.Name, err)
		}
		roleIDs[r.Name] = id
	}

	si := object.NewSearchIndex(c)
	perms := append([]Permission{{
		Entity: "/", Principal: inv.ServiceAccount.Username, Role: "Admin",
	}}, inv.Permissions...)
	for _, p := range perms {
		id, ok := roleIDs[p.Role]
		if !ok {
			return fmt.Errorf("permission for %q: unknown role %q", p.Principal, p.Role)
		}
		var entity types.ManagedObjectReference
		if p.Entity == "" || p.Entity == "/" {
			entity = c.ServiceContent.RootFolder
		} else {
			ref, err := si.FindByInventoryPath(ctx, p.Entity)
			if err != nil || ref == nil {
				return fmt.Errorf("permission for %q: entity %q not found", p.Principal, p.Entity)
			}
			entity = ref.Reference()
		}
		propagate := true
		if p.Propagate != nil {
			propagate = *p.Propagate
		}
		err := am.SetEntityPermissions(ctx, entity, []types.Permission{{
			Principal: p.Principal, Group: p.Group, RoleId: id, Propagate: propagate,
		}})
		if err != nil {
			return fmt.Errorf("permission for %q on %q: %w", p.Principal, p.Entity, err)
		}
	}
	return nil
}

func buildDatacenter(ctx context.Context, c *vim25.Client, root *object.Folder, spec Datacenter, workDir string, seenHosts map[string]bool) error {
	dc, err := root.CreateDatacenter(ctx, spec.Name)
	if err != nil {
		return err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	st := &dcState{
		dc: dc, folders: folders,
		vmFolder: map[string]*object.Folder{"": folders.VmFolder},
		hosts:    map[string]*object.HostSystem{},
		clusters: map[string]*object.ClusterComputeResource{},
		cHosts:   map[string][]*object.HostSystem{},
		nets:     map[string]types.BaseVirtualDeviceBackingInfo{},
		ds:       map[string]types.ManagedObjectReference{},
		dsDir:    map[string]string{},
	}

	// VM folders, e.g. "Production/Web"
	for _, path := range spec.Folders {
		if _, err := st.folder(ctx, path); err != nil {
			return err
		}
	}

	addHost := func(name string, f func(types.HostConnectSpec) (*object.Task, error)) (*object.HostSystem, error) {
		if seenHosts[name] {
			return nil, fmt.Errorf("duplicate host name %q", name)
		}
		seenHosts[name] = true
		task, err := f(types.HostConnectSpec{HostName: name})
		if err != nil {
			return nil, err
		}
		info, err := task.WaitForResult(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("adding host %q: %w", name, err)
		}
		h := object.NewHostSystem(c, info.Result.(types.ManagedObjectReference))
		st.hosts[name] = h
		st.hostList = append(st.hostList, h)
		return h, nil
	}

	for _, cs := range spec.Clusters {
		cluster, err := folders.HostFolder.CreateCluster(ctx, cs.Name, types.ClusterConfigSpecEx{})
		if err != nil {
			return fmt.Errorf("cluster %q: %w", cs.Name, err)
		}
		st.clusters[cs.Name] = cluster
		for _, hs := range cs.Hosts {
			h, err := addHost(hs.Name, func(s types.HostConnectSpec) (*object.Task, error) {
				return cluster.AddHost(ctx, s, true, nil, nil)
			})
			if err != nil {
				return err
			}
			st.cHosts[cs.Name] = append(st.cHosts[cs.Name], h)
		}
	}
	for _, hs := range spec.Hosts {
		if _, err := addHost(hs.Name, func(s types.HostConnectSpec) (*object.Task, error) {
			return folders.HostFolder.AddStandaloneHost(ctx, s, true, nil, nil)
		}); err != nil {
			return err
		}
	}
	if len(st.hostList) == 0 {
		return fmt.Errorf("needs at least one host")
	}

	// datastores (local, backed by a directory; capacity is reported as configured)
	if len(spec.Datastores) == 0 {
		spec.Datastores = []Datastore{{Name: "datastore1", CapacityGB: 1024}}
	}
	for _, d := range spec.Datastores {
		dir := filepath.Join(workDir, sanitize(spec.Name), sanitize(d.Name))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		hosts := st.hostList
		if len(d.Hosts) > 0 {
			hosts = nil
			for _, n := range d.Hosts {
				h, ok := st.hosts[n]
				if !ok {
					return fmt.Errorf("datastore %q: unknown host %q", d.Name, n)
				}
				hosts = append(hosts, h)
			}
		}
		var ref types.ManagedObjectReference
		for _, h := range hosts {
			dss, err := h.ConfigManager().DatastoreSystem(ctx)
			if err != nil {
				return err
			}
			ds, err := dss.CreateLocalDatastore(ctx, d.Name, dir)
			if err != nil {
				return fmt.Errorf("datastore %q: %w", d.Name, err)
			}
			ref = ds.Reference()
		}
		st.ds[d.Name] = ref
		st.dsDir[d.Name] = dir
		if d.CapacityGB > 0 {
			if obj, ok := simulator.Map.Get(ref).(*simulator.Datastore); ok {
				capacity := int64(d.CapacityGB * 1024 * 1024 * 1024)
				obj.Summary.Capacity = capacity
				obj.Summary.FreeSpace = capacity
				info := obj.Info.GetDatastoreInfo()
				info.FreeSpace = capacity
				info.MaxFileSize = capacity
				if li, ok := obj.Info.(*types.LocalDatastoreInfo); ok {
					li.MaxFileSize = capacity
				}
			}
		}
	}

	// networks: "VM Network" exists in every datacenter
	netFolder := folders.NetworkFolder
	for _, n := range spec.Networks {
		if n.Name == "VM Network" && !n.Distributed {
			continue
		}
		if n.Distributed {
			if st.dvs == nil {
				var cspec types.DVSCreateSpec
				cspec.ConfigSpec = &types.VMwareDVSConfigSpec{}
				cspec.ConfigSpec.GetDVSConfigSpec().Name = spec.Name + "-DVS"
				task, err := netFolder.CreateDVS(ctx, cspec)
				if err != nil {
					return err
				}
				info, err := task.WaitForResult(ctx, nil)
				if err != nil {
					return fmt.Errorf("creating DVS: %w", err)
				}
				st.dvs = object.NewDistributedVirtualSwitch(c, info.Result.(types.ManagedObjectReference))
				members := &types.DVSConfigSpec{}
				for _, h := range st.hostList {
					members.Host = append(members.Host, types.DistributedVirtualSwitchHostMemberConfigSpec{
						Operation: string(types.ConfigSpecOperationAdd), Host: h.Reference(),
					})
				}
				rt, err := st.dvs.Reconfigure(ctx, members)
				if err != nil {
					return err
				}
				if err := rt.Wait(ctx); err != nil {
					return fmt.Errorf("adding hosts to the DVS: %w", err)
				}
			}
			task, err := st.dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{{Name: n.Name, NumPorts: 128}})
			if err != nil {
				return err
			}
			if err := task.Wait(ctx); err != nil {
				return fmt.Errorf("portgroup %q: %w", n.Name, err)
			}
			nf := simulator.Map.Get(netFolder.Reference()).(*simulator.Folder)
			pg := simulator.Map.FindByName(n.Name, nf.ChildEntity)
			if pg == nil {
				return fmt.Errorf("portgroup %q not found after creation", n.Name)
			}
			backing, err := object.NewDistributedVirtualPortgroup(c, pg.Reference()).EthernetCardBackingInfo(ctx)
			if err != nil {
				return err
			}
			st.nets[n.Name] = backing
			continue
		}
		ns, err := st.hostList[0].ConfigManager().NetworkSystem(ctx)
		if err != nil {
			return err
		}
		err = ns.AddPortGroup(ctx, types.HostPortGroupSpec{
			Name: n.Name, VlanId: n.VlanID, VswitchName: "vSwitch0", Policy: types.HostNetworkPolicy{},
		})
		if err != nil {
			return fmt.Errorf("network %q: %w", n.Name, err)
		}
	}

	for _, vm := range spec.VMs {
		if err := st.createVM(ctx, c, vm, spec); err != nil {
			return fmt.Errorf("vm %q: %w", vm.Name, err)
		}
	}
	return nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

func (st *dcState) folder(ctx context.Context, path string) (*object.Folder, error) {
	path = strings.Trim(path, "/")
	if f, ok := st.vmFolder[path]; ok {
		return f, nil
	}
	parentPath, name := "", path
	if i := strings.LastIndex(path, "/"); i >= 0 {
		parentPath, name = path[:i], path[i+1:]
	}
	parent, err := st.folder(ctx, parentPath)
	if err != nil {
		return nil, err
	}
	f, err := parent.CreateFolder(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("folder %q: %w", path, err)
	}
	st.vmFolder[path] = f
	return f, nil
}

var rrCounter = map[string]int{}

func (st *dcState) placement(ctx context.Context, vm VM) (*object.ResourcePool, *object.HostSystem, error) {
	pick := func(key string, hosts []*object.HostSystem) *object.HostSystem {
		h := hosts[rrCounter[key]%len(hosts)]
		rrCounter[key]++
		return h
	}
	if vm.Host != "" {
		h, ok := st.hosts[vm.Host]
		if !ok {
			return nil, nil, fmt.Errorf("unknown host %q", vm.Host)
		}
		pool, err := h.ResourcePool(ctx)
		return pool, h, err
	}
	name := vm.Cluster
	if name == "" {
		for n := range st.clusters {
			if name == "" || n < name {
				name = n
			}
		}
	}
	if name != "" {
		cl, ok := st.clusters[name]
		if !ok {
			return nil, nil, fmt.Errorf("unknown cluster %q", name)
		}
		if len(st.cHosts[name]) == 0 {
			return nil, nil, fmt.Errorf("cluster %q has no hosts", name)
		}
		pool, err := cl.ResourcePool(ctx)
		return pool, pick(name, st.cHosts[name]), err
	}
	h := pick("", st.hostList)
	pool, err := h.ResourcePool(ctx)
	return pool, h, err
}

func (st *dcState) createVM(ctx context.Context, c *vim25.Client, spec VM, dcSpec Datacenter) error {
	folder, err := st.folder(ctx, spec.Folder)
	if err != nil {
		return err
	}
	pool, host, err := st.placement(ctx, spec)
	if err != nil {
		return err
	}
	if spec.GuestID == "" {
		spec.GuestID = "otherGuest64"
	}
	if spec.NumCPUs == 0 {
		spec.NumCPUs = 1
	}
	if spec.MemoryMB == 0 {
		spec.MemoryMB = 1024
	}
	defaultDS := ""
	if len(dcSpec.Datastores) > 0 {
		defaultDS = dcSpec.Datastores[0].Name
	}
	for name := range st.ds {
		if defaultDS == "" {
			defaultDS = name
		}
	}

	config := types.VirtualMachineConfigSpec{
		Name:       spec.Name,
		GuestId:    spec.GuestID,
		NumCPUs:    spec.NumCPUs,
		MemoryMB:   spec.MemoryMB,
		Annotation: spec.Annotation,
		Firmware:   spec.Firmware,
		Files:      &types.VirtualMachineFileInfo{VmPathName: "[" + defaultDS + "]"},
	}

	var devices object.VirtualDeviceList
	ctrlType := spec.Controller
	if ctrlType == "" {
		ctrlType = "pvscsi"
	}
	scsi, err := devices.CreateSCSIController(ctrlType)
	if err != nil {
		return err
	}
	devices = append(devices, scsi)
	ide, _ := devices.CreateIDEController()
	devices = append(devices, ide)
	cdrom, _ := devices.CreateCdrom(ide.(*types.VirtualIDEController))
	devices = append(devices, cdrom)

	type diskOpt struct {
		file string
		opt  simulator.SandboxDiskOptions
	}
	var opts []diskOpt
	rdms := map[string]*types.VirtualDiskRawDiskMappingVer1BackingInfo{}
	for i, d := range spec.Disks {
		dsName := d.Datastore
		if dsName == "" {
			dsName = defaultDS
		}
		dsRef, ok := st.ds[dsName]
		if !ok {
			return fmt.Errorf("disk %d: unknown datastore %q", i, dsName)
		}
		// the VM directory must exist on every datastore holding one of its disks
		if err := os.MkdirAll(filepath.Join(st.dsDir[dsName], spec.Name), 0o755); err != nil {
			return err
		}
		file := fmt.Sprintf("[%s] %s/%s.vmdk", dsName, spec.Name, spec.Name)
		if i > 0 {
			file = fmt.Sprintf("[%s] %s/%s_%d.vmdk", dsName, spec.Name, spec.Name, i)
		}
		disk := devices.CreateDisk(scsi.(types.BaseVirtualController), dsRef, file)
		size := d.bytes()
		disk.CapacityInBytes = size
		disk.CapacityInKB = size / 1024
		switch d.RDM {
		case "":
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				thin := true
				if d.Thin != nil {
					thin = *d.Thin
				}
				b.ThinProvisioned = types.NewBool(thin)
			}
		case "physical", "virtual":
			mode := types.VirtualDiskCompatibilityModePhysicalMode
			diskMode := types.VirtualDiskModeIndependent_persistent
			if d.RDM == "virtual" {
				mode = types.VirtualDiskCompatibilityModeVirtualMode
				diskMode = types.VirtualDiskModePersistent
			}
			// govmomi 0.24 cannot create RDM disks (updateDiskLayouts assumes flat
			// backings), so the disk is created flat and its backing swapped afterwards.
			file = fmt.Sprintf("[%s] %s/%s_rdm%d.vmdk", dsName, spec.Name, spec.Name, i)
			disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName = file
			ds := dsRef
			rdms[file] = &types.VirtualDiskRawDiskMappingVer1BackingInfo{
				VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: file, Datastore: &ds},
				LunUuid:                      fmt.Sprintf("0200%028x", i+1),
				DeviceName:                   fmt.Sprintf("/vmfs/devices/disks/naa.600508b1001c%020x", i+1),
				CompatibilityMode:            string(mode),
				DiskMode:                     string(diskMode),
			}
		default:
			return fmt.Errorf("disk %d: rdm must be \"physical\" or \"virtual\"", i)
		}
		devices = append(devices, disk)
		o := simulator.SandboxDiskOptions{UsedFraction: 1}
		if d.UsedFraction != nil {
			o.UsedFraction = *d.UsedFraction
		}
		if d.Seed != nil {
			o.Seed = *d.Seed
		} else {
			o.Seed = fnv64(fmt.Sprintf("%s/%s/%d", dcSpec.Name, spec.Name, i))
		}
		opts = append(opts, diskOpt{file: file, opt: o})
	}

	nets := spec.Networks
	if nets == nil {
		nets = []string{"VM Network"}
	}
	for _, n := range nets {
		backing, ok := st.nets[n]
		if !ok {
			backing = &types.VirtualEthernetCardNetworkBackingInfo{
				VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: n},
			}
		}
		nic, err := devices.CreateEthernetCard("vmxnet3", backing)
		if err != nil {
			return err
		}
		devices = append(devices, nic)
	}

	config.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return err
	}
	task, err := folder.CreateVM(ctx, config, pool, host)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return err
	}
	ref := info.Result.(types.ManagedObjectReference)
	vm := object.NewVirtualMachine(c, ref)

	// register content options by device key (matched through the backing file)
	simVM := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	for n, dev := range object.VirtualDeviceList(simVM.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		disk := dev.(*types.VirtualDisk)
		// vSphere-style labels instead of the simulator's "disk-<ctrl>-<unit>"
		if disk.DeviceInfo != nil {
			d := disk.DeviceInfo.GetDescription()
			d.Label = fmt.Sprintf("Hard disk %d", n+1)
		}
		b, ok := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo)
		if !ok {
			continue
		}
		name := b.GetVirtualDeviceFileBackingInfo().FileName
		if rdm, ok := rdms[name]; ok {
			disk.Backing = rdm
		}
		for _, o := range opts {
			if o.file == name {
				simulator.SandboxSetDiskOptions(ref, disk.Key, o.opt)
			}
		}
	}

	switch spec.PowerState {
	case "", "poweredOff":
	case "poweredOn", "suspended":
		t, err := vm.PowerOn(ctx)
		if err != nil {
			return err
		}
		if err := t.Wait(ctx); err != nil {
			return err
		}
		if spec.PowerState == "suspended" {
			t, err := vm.Suspend(ctx)
			if err != nil {
				return err
			}
			if err := t.Wait(ctx); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("power_state must be poweredOn, poweredOff or suspended")
	}
	if spec.Template {
		if err := vm.MarkAsTemplate(ctx); err != nil {
			return err
		}
	}
	return nil
}

func fnv64(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
