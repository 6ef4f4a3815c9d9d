// vCenter sandbox overlay: each simulated ESX host serves NFC itself.
//
// Compiled into github.com/vmware/govmomi/simulator with `go build -overlay`.
// A real vCenter's export lease points its device URLs at the ESX host that
// holds the VM, and HttpNfcLeaseDeviceUrl.sslThumbprint is "the SSL thumbprint
// of the host"'s certificate (vSphere API reference), not vCenter's. So every
// HostSystem gets its own HTTPS listener with its own certificate, which only
// serves the disks of leases on VMs of that host.
package simulator

import (
	"crypto/tls"
	"log"
	"net"
	"net/http"
	"sort"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type sbxEsxEndpoint struct {
	name  string
	port  int
	thumb string
}

// SandboxHostCert makes the TLS certificate of one ESX host and returns it
// with its SHA-1 thumbprint ("AA:BB:..").
type SandboxHostCert func(hostName string) (tls.Certificate, string, error)

// SandboxServeHosts starts one HTTPS NFC listener per HostSystem on listenIP
// and returns {host name: {"https_port", "thumbprint"}}.
func SandboxServeHosts(listenIP string, certFor SandboxHostCert) (map[string]interface{}, error) {
	out := map[string]interface{}{}
	hosts := Map.All("HostSystem")
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Entity().Name < hosts[j].Entity().Name })
	for _, e := range hosts {
		h := e.(*HostSystem)
		cert, thumb, err := certFor(h.Name)
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(listenIP, "0"))
		if err != nil {
			return nil, err
		}
		ref := h.Self
		mux := http.NewServeMux()
		mux.HandleFunc(nfcPrefix, func(w http.ResponseWriter, r *http.Request) { sbxServeNFCOn(w, r, ref) })
		conf := &tls.Config{Certificates: []tls.Certificate{cert}}
		srv := &http.Server{Handler: mux, TLSConfig: conf, ErrorLog: log.New(log.Writer(), "vcsim-sandbox esx "+h.Name+": ", log.LstdFlags)}
		go func() { _ = srv.Serve(tls.NewListener(ln, conf)) }()
		ep := &sbxEsxEndpoint{name: h.Name, port: ln.Addr().(*net.TCPAddr).Port, thumb: thumb}
		sbx.mu.Lock()
		sbx.esx[ref] = ep
		sbx.mu.Unlock()
		out[h.Name] = map[string]interface{}{"https_port": ep.port, "thumbprint": thumb}
	}
	return out, nil
}

// sbxEsxOf is the NFC endpoint of the host running vm (nil without one).
func sbxEsxOf(vm *mo.VirtualMachine) (types.ManagedObjectReference, *sbxEsxEndpoint) {
	if vm.Runtime.Host == nil {
		return types.ManagedObjectReference{}, nil
	}
	sbx.mu.Lock()
	defer sbx.mu.Unlock()
	return *vm.Runtime.Host, sbx.esx[*vm.Runtime.Host]
}
