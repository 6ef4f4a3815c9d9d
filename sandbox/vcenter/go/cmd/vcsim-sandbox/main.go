// vcsim-sandbox: the govmomi 0.24 vCenter simulator with the sandbox overlay
// (ExportVm + HttpNfcLease + streamOptimized NFC downloads, working
// permissions, user table, fault switches), an inventory read from JSON and a
// one-line JSON "ready" message on stdout.
//
// Build with sandbox/vcenter/build.sh (GOPATH mode + -overlay); see
// sandbox/vcenter/README.md for the inventory schema and the control API.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
)

func main() {
	invPath := flag.String("inventory", "", "inventory JSON file (default: a small built-in inventory)")
	listen := flag.String("listen", "127.0.0.1:0", "plain HTTP listen address")
	httpsListen := flag.String("https-listen", "", "HTTPS listen address (empty: no HTTPS), e.g. 127.0.0.1:0")
	leaseTimeout := flag.Float64("lease-timeout", -1, "export lease timeout in seconds (overrides the inventory; default 300)")
	leaseInit := flag.Float64("lease-init", -1, "seconds a lease stays 'initializing' (overrides the inventory; default 0.5)")
	faults := flag.String("faults", "", "initial fault switches as a JSON object (merged over the inventory's)")
	workDir := flag.String("work-dir", "", "directory for datastore backing files (default: a temp dir, removed at exit)")
	stdinEOF := flag.Bool("exit-on-stdin-eof", false, "exit when stdin is closed (lets a parent process own our lifetime)")
	trace := flag.Bool("trace", false, "log SOAP traffic to stderr")
	flag.Parse()

	log.SetPrefix("vcsim-sandbox: ")
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	simulator.Trace = *trace

	// Handle termination from the very start, so a stop request that arrives
	// right after the ready line still cleans up.
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	if *stdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop <- syscall.SIGTERM
		}()
	}

	inv := defaultInventory()
	if *invPath != "" {
		data, err := os.ReadFile(*invPath)
		if err != nil {
			log.Fatalf("reading inventory: %s", err)
		}
		inv = &Inventory{}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(inv); err != nil {
			log.Fatalf("parsing inventory %s: %s", *invPath, err)
		}
	}
	inv.setDefaults()
	if *leaseTimeout >= 0 {
		inv.LeaseTimeoutSeconds = leaseTimeout
	}
	if *leaseInit >= 0 {
		inv.LeaseInitSeconds = leaseInit
	}

	dir := *workDir
	removeDir := false
	if dir == "" {
		d, err := os.MkdirTemp("", "vcsim-sandbox-")
		if err != nil {
			log.Fatal(err)
		}
		dir, removeDir = d, true
	}

	fatalf := func(format string, args ...interface{}) {
		if removeDir {
			_ = os.RemoveAll(dir)
		}
		log.Fatalf(format, args...)
	}

	model := simulator.VPX()
	model.Datacenter = 0
	model.Portgroup = 0
	model.Host = 0
	model.Cluster = 0
	model.ClusterHost = 0
	model.Datastore = 0
	model.Machine = 0
	model.Autostart = false
	if err := model.Create(); err != nil {
		fatalf("creating model: %s", err)
	}

	cfg := simulator.SandboxConfig{
		ServiceUser:            inv.ServiceAccount.Username,
		ServicePassword:        inv.ServiceAccount.Password,
		Users:                  map[string]string{},
		Groups:                 map[string][]string{},
		AllowAnyLogin:          inv.AllowAnyLogin,
		EnforceExportPrivilege: *inv.EnforceExportPrivilege,
		EnforcePrivileges:      *inv.EnforcePrivileges,
		LeaseTimeout:           time.Duration(*inv.LeaseTimeoutSeconds * float64(time.Second)),
		LeaseInit:              time.Duration(*inv.LeaseInitSeconds * float64(time.Second)),
		DeviceURLHost:          inv.DeviceURLHost,
	}
	for _, u := range inv.Users {
		cfg.Users[u.Name] = u.Password
	}
	for _, g := range inv.Groups {
		cfg.Groups[g.Name] = g.Members
	}

	var tlsConf *tls.Config
	if *httpsListen != "" {
		cert, thumb, err := selfSignedCert("")
		if err != nil {
			fatalf("generating certificate: %s", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}}
		cfg.Thumbprint = thumb
	}

	simulator.SandboxInstall(model.Service, cfg)

	ctx := context.Background()
	client, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		fatalf("in-process client: %s", err)
	}
	if err := buildInventory(ctx, client, inv, dir); err != nil {
		fatalf("building inventory: %s", err)
	}

	initial := simulator.SandboxFaults{}
	if len(inv.Faults) > 0 {
		if err := simulator.SandboxParseFaults(&initial, inv.Faults); err != nil {
			fatalf("inventory faults: %s", err)
		}
	}
	if *faults != "" {
		if err := simulator.SandboxParseFaults(&initial, []byte(*faults)); err != nil {
			fatalf("-faults: %s", err)
		}
	}
	simulator.SandboxSetFaults(initial)

	plain, err := net.Listen("tcp", *listen)
	if err != nil {
		fatalf("listen %s: %s", *listen, err)
	}
	var secure net.Listener
	if tlsConf != nil {
		secure, err = net.Listen("tcp", *httpsListen)
		if err != nil {
			fatalf("listen %s: %s", *httpsListen, err)
		}
	}
	srv := simulator.SandboxServe(model.Service, plain, secure, tlsConf)
	var esxHosts map[string]interface{}
	if secure != nil {
		esxHosts, err = simulator.SandboxServeHosts(secure.Addr().(*net.TCPAddr).IP.String(), selfSignedCert)
		if err != nil {
			fatalf("ESX host listeners: %s", err)
		}
	}

	addr := plain.Addr().(*net.TCPAddr)
	ready := map[string]interface{}{
		"url":         srv.URL.String(),
		"host":        addr.IP.String(),
		"port":        addr.Port,
		"username":    inv.ServiceAccount.Username,
		"password":    inv.ServiceAccount.Password,
		"control_url": fmt.Sprintf("http://%s/sandbox", srv.URL.Host),
		"pid":         os.Getpid(),
		"api_version": client.ServiceContent.About.ApiVersion,
		"work_dir":    dir,
	}
	if srv.HTTPSURL != nil {
		ready["https_url"] = srv.HTTPSURL.String()
		ready["https_port"] = secure.Addr().(*net.TCPAddr).Port
		ready["thumbprint"] = cfg.Thumbprint
		ready["esx_hosts"] = esxHosts
	}
	line, _ := json.Marshal(ready)
	w := bufio.NewWriter(os.Stdout)
	_, _ = w.Write(append(line, '\n'))
	_ = w.Flush()
	log.Printf("ready: %s", srv.URL)

	sig := <-stop
	log.Printf("stopping (%s)", sig)
	srv.Close()
	model.Remove()
	if removeDir {
		_ = os.RemoveAll(dir)
	}
}

// selfSignedCert returns a fresh ECDSA certificate for 127.0.0.1/localhost (and
// for name, an ESX host's, when given) and its SHA-1 thumbprint in vSphere's
// "AA:BB:..." notation.
func selfSignedCert(name string) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	common, dnsNames := "vcsim-sandbox", []string{"localhost"}
	if name != "" {
		common, dnsNames = name, append(dnsNames, name)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: common, Organization: []string{"vCenter sandbox"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              dnsNames,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha1.Sum(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, strings.Join(parts, ":"), nil
}
