// vCenter sandbox overlay: configuration, runtime fault switches, HTTP wiring.
//
// Compiled into github.com/vmware/govmomi/simulator with `go build -overlay`
// (sandbox/vcenter/build.sh); the library's own files are left untouched.
// Everything here is additive: new identifiers prefixed with Sandbox/sbx.
package simulator

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// SandboxConfig is filled in by the sandbox main program before SandboxInstall.
type SandboxConfig struct {
	ServiceUser     string
	ServicePassword string
	// Users maps login names to passwords. Names match case-insensitively and
	// "DOMAIN\\user" equals "user@domain"; a name without domain matches any domain.
	Users map[string]string
	// Groups maps a group principal to its member principals.
	Groups map[string][]string
	// AllowAnyLogin restores vcsim's default (any non-empty user/password).
	AllowAnyLogin bool
	// EnforceExportPrivilege makes ExportVm require VApp.Export for the session user.
	EnforceExportPrivilege bool
	// EnforcePrivileges makes the SOAP methods of sbxRequiredPrivileges require their
	// privilege (vCenter's "Required Privileges") for the session user.
	EnforcePrivileges bool
	LeaseTimeout      time.Duration
	LeaseInit         time.Duration
	// DeviceURLHost is the host part of lease device URLs: "" (the VM's ESX host
	// over HTTPS, "*" over HTTP), "*", "esx" (the name of the VM's ESX host) or a
	// literal host name.
	DeviceURLHost string
	// Thumbprint is the SHA-1 thumbprint of the HTTPS certificate ("AA:BB:..").
	Thumbprint string
}

// SandboxDiskOptions tunes the generated content of one virtual disk.
type SandboxDiskOptions struct {
	UsedFraction float64
	Seed         uint64
}

// SandboxFaults are the runtime switches (GET/POST/DELETE /sandbox/faults).
// A nil pointer / empty string means "off" (or "use the configured default").
type SandboxFaults struct {
	EsxHostUnresolvable    string   `json:"esx_host_unresolvable"`
	NfcCutAfterBytes       *int64   `json:"nfc_cut_after_bytes"`
	NfcBytesPerSecond      *int64   `json:"nfc_bytes_per_second"`
	LeaseErrorAfterSeconds *float64 `json:"lease_error_after_seconds"`
	LeaseTimeoutSeconds    *float64 `json:"lease_timeout_seconds"`
	LeaseInitSeconds       *float64 `json:"lease_init_seconds"`
	// NfcCutCount limits nfc_cut_after_bytes to the next N downloads (nil: every download).
	NfcCutCount *int64 `json:"nfc_cut_count"`
	// NfcCutReset ends a cut download with a TCP reset instead of an orderly close.
	NfcCutReset bool `json:"nfc_cut_reset"`
	// NfcContentLength sends disk downloads with a Content-Length. Off by default:
	// ESX builds the stream as it sends it and answers chunked, without a length.
	NfcContentLength bool `json:"nfc_content_length"`
	// SessionExpireAfterCalls: after N more authenticated SOAP calls, the session making
	// the next one is dropped and that call answers NotAuthenticated (one-shot).
	SessionExpireAfterCalls *int64 `json:"session_expire_after_calls"`
}

// SandboxDefaultUnresolvableHost is used when esx_host_unresolvable is `true`.
const SandboxDefaultUnresolvableHost = "esx-unresolvable.invalid"

type sbxState struct {
	mu        sync.Mutex
	cfg       SandboxConfig
	svc       *Service
	faults    SandboxFaults
	tickets   map[string]*sandboxLease
	leases    map[types.ManagedObjectReference]*sandboxLease
	leasedVMs map[types.ManagedObjectReference]*sandboxLease
	disks     map[string]SandboxDiskOptions
	counter   int64
	httpPort  int
	httpsPort int
	// esx holds each ESX host's own NFC listener (SandboxServeHosts).
	esx map[types.ManagedObjectReference]*sbxEsxEndpoint
}

var sbx *sbxState

// SandboxInstall activates the sandbox extensions on an initialised model.
func SandboxInstall(s *Service, cfg SandboxConfig) {
	if cfg.LeaseTimeout <= 0 {
		cfg.LeaseTimeout = 300 * time.Second
	}
	sbx = &sbxState{
		cfg:       cfg,
		svc:       s,
		tickets:   make(map[string]*sandboxLease),
		leases:    make(map[types.ManagedObjectReference]*sandboxLease),
		leasedVMs: make(map[types.ManagedObjectReference]*sandboxLease),
		disks:     make(map[string]SandboxDiskOptions),
		esx:       make(map[types.ManagedObjectReference]*sbxEsxEndpoint),
	}
	sbxInstallAuthz()
	sbxInstallViews()
	sbxInstallOvf()
	sbxInstallFixes()
	go sbxReaper()
}

// SandboxSetDiskOptions registers content options for a VM disk (by device key).
func SandboxSetDiskOptions(vm types.ManagedObjectReference, deviceKey int32, o SandboxDiskOptions) {
	sbx.mu.Lock()
	defer sbx.mu.Unlock()
	sbx.disks[fmt.Sprintf("%s:%d", vm.Value, deviceKey)] = o
}

// SandboxSetFaults replaces the current fault switches.
func SandboxSetFaults(f SandboxFaults) {
	sbx.mu.Lock()
	sbx.faults = f
	sbx.mu.Unlock()
	sbxApplyLeaseErrorFault()
}

func sbxFaults() SandboxFaults {
	sbx.mu.Lock()
	defer sbx.mu.Unlock()
	return sbx.faults
}

// SandboxParseFaults merges a JSON object into f. Keys set to null reset a switch.
func SandboxParseFaults(f *SandboxFaults, data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("faults must be a JSON object: %v", err)
	}
	isNull := func(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }
	optInt := func(v json.RawMessage, dst **int64, key string) error {
		if isNull(v) {
			*dst = nil
			return nil
		}
		var n float64
		if err := json.Unmarshal(v, &n); err != nil || n < 0 {
			return fmt.Errorf("%s must be a non-negative number or null", key)
		}
		i := int64(n)
		*dst = &i
		return nil
	}
	optFloat := func(v json.RawMessage, dst **float64, key string) error {
		if isNull(v) {
			*dst = nil
			return nil
		}
		var n float64
		if err := json.Unmarshal(v, &n); err != nil || n < 0 {
			return fmt.Errorf("%s must be a non-negative number or null", key)
		}
		*dst = &n
		return nil
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := raw[k]
		var err error
		switch k {
		case "esx_host_unresolvable":
			var b bool
			var s string
			switch {
			case isNull(v):
				f.EsxHostUnresolvable = ""
			case json.Unmarshal(v, &b) == nil:
				f.EsxHostUnresolvable = ""
				if b {
					f.EsxHostUnresolvable = SandboxDefaultUnresolvableHost
				}
			case json.Unmarshal(v, &s) == nil:
				f.EsxHostUnresolvable = s
			default:
				err = fmt.Errorf("esx_host_unresolvable must be a boolean, a host name or null")
			}
		case "nfc_cut_after_bytes":
			err = optInt(v, &f.NfcCutAfterBytes, k)
		case "nfc_bytes_per_second":
			err = optInt(v, &f.NfcBytesPerSecond, k)
			if err == nil && f.NfcBytesPerSecond != nil && *f.NfcBytesPerSecond == 0 {
				f.NfcBytesPerSecond = nil
			}
		case "lease_error_after_seconds":
			err = optFloat(v, &f.LeaseErrorAfterSeconds, k)
		case "lease_timeout_seconds":
			err = optFloat(v, &f.LeaseTimeoutSeconds, k)
			if err == nil && f.LeaseTimeoutSeconds != nil && *f.LeaseTimeoutSeconds <= 0 {
				err = fmt.Errorf("lease_timeout_seconds must be > 0")
			}
		case "lease_init_seconds":
			err = optFloat(v, &f.LeaseInitSeconds, k)
		case "nfc_cut_count":
			err = optInt(v, &f.NfcCutCount, k)
		case "session_expire_after_calls":
			err = optInt(v, &f.SessionExpireAfterCalls, k)
		case "nfc_cut_reset", "nfc_content_length":
			var b bool
			if !isNull(v) && json.Unmarshal(v, &b) != nil {
				err = fmt.Errorf("%s must be a boolean or null", k)
			} else if k == "nfc_cut_reset" {
				f.NfcCutReset = b
			} else {
				f.NfcContentLength = b
			}
		default:
			err = fmt.Errorf("unknown fault switch %q", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func sbxDuration(sec float64) time.Duration {
	return time.Duration(sec * float64(time.Second))
}

// SandboxServer is the running HTTP(S) front end.
type SandboxServer struct {
	URL      *url.URL // http://127.0.0.1:port/sdk
	HTTPSURL *url.URL // https://127.0.0.1:port/sdk, nil without TLS
	servers  []*http.Server
}

// Close stops the listeners.
func (s *SandboxServer) Close() {
	for _, srv := range s.servers {
		_ = srv.Close()
	}
}

// SandboxServe serves the simulator (SOAP, NFC, datastore files, control API)
// on plain (required) and secure (optional, TLS) listeners.
func SandboxServe(s *Service, plain net.Listener, secure net.Listener, tlsConf *tls.Config) *SandboxServer {
	mux := http.NewServeMux()
	s.ServeMux = mux
	s.sdk[Map.Path] = Map
	s.sdk[Map.Path+"/vimService"] = Map
	mux.HandleFunc(Map.Path, sbxServeSDK)
	mux.HandleFunc(Map.Path+"/vimService", sbxServeSDK)
	mux.HandleFunc(Map.Path+"/vimServiceVersions.xml", s.ServiceVersions)
	mux.HandleFunc(folderPrefix, s.ServeDatastore)
	mux.HandleFunc(guestPrefix, ServeGuest)
	mux.HandleFunc(nfcPrefix, sbxServeNFC)
	mux.HandleFunc("/about", s.About)
	mux.HandleFunc("/sandbox/", sbxServeControl)

	addr := plain.Addr().(*net.TCPAddr)
	u := &url.URL{Scheme: "http", Host: net.JoinHostPort(addr.IP.String(), strconv.Itoa(addr.Port)), Path: Map.Path}
	sbx.httpPort = addr.Port

	Map.SessionManager().ServiceHostName = u.Host
	m := Map.OptionManager()
	m.Setting = append(m.Setting, &types.OptionValue{Key: "vcsim.server.url", Value: u.String()})
	// Listen.User stays nil: the library then accepts any non-empty login and
	// sbxServeSDK applies the sandbox's own user table first.
	s.Listen = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}

	out := &SandboxServer{URL: u}
	errLog := log.New(log.Writer(), "vcsim-sandbox http: ", log.LstdFlags)
	srv := &http.Server{Handler: mux, ErrorLog: errLog}
	out.servers = append(out.servers, srv)
	go func() { _ = srv.Serve(plain) }()

	if secure != nil && tlsConf != nil {
		a := secure.Addr().(*net.TCPAddr)
		sbx.httpsPort = a.Port
		out.HTTPSURL = &url.URL{Scheme: "https", Host: net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port)), Path: Map.Path}
		tsrv := &http.Server{Handler: mux, TLSConfig: tlsConf, ErrorLog: errLog}
		out.servers = append(out.servers, tsrv)
		go func() { _ = tsrv.Serve(tls.NewListener(secure, tlsConf)) }()
	}
	return out
}

// sbxWriteFault writes a SOAP fault the same way Service.ServeSDK does.
func sbxWriteFault(w http.ResponseWriter, f *soap.Fault) {
	var out bytes.Buffer
	fmt.Fprint(&out, xml.Header)
	body := struct{ Fault *soapFault }{&soapFault{
		Code:   f.Code,
		String: f.String,
		Detail: struct{ Fault *faultDetail }{&faultDetail{f.Detail.Fault}},
	}}
	err := xml.NewEncoder(&out).Encode(&soapEnvelope{
		Enc:  "http://schemas.xmlsoap.org/soap/encoding/",
		Env:  "http://schemas.xmlsoap.org/soap/envelope/",
		XSD:  "http://www.w3.org/2001/XMLSchema",
		XSI:  "http://www.w3.org/2001/XMLSchema-instance",
		Body: body,
	})
	if err != nil {
		log.Printf("sandbox: encoding fault: %s", err)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(out.Bytes())
}

// sbxPrecheck runs before the library dispatches a SOAP call. It enforces the
// sandbox user table on Login and the lease's disabled methods on VMs, and
// keeps calls that would crash 0.24 on RDM-backed disks away from the library.
// It returns a fault, or a response that answers the call, or neither.
func sbxPrecheck(method *Method, session *Session) (*soap.Fault, soap.HasFault) {
	if f := sbxCheckSession(method, session); f != nil {
		return f, nil
	}
	if f := sbxCheckPrivileges(method, session); f != nil {
		return f, nil
	}
	switch req := method.Body.(type) {
	case *types.Login:
		if !sbxValidLogin(req.UserName, req.Password) {
			return invalidLogin, nil
		}
	case *types.PowerOnMultiVM_Task:
		for _, vm := range req.Vm {
			if f := sbxDisabled(vm, "PowerOnVM_Task"); f != nil {
				return f, nil
			}
		}
	case *types.RefreshStorageInfo:
		if sbxHasRDM(req.This) {
			return nil, &methods.RefreshStorageInfoBody{Res: &types.RefreshStorageInfoResponse{}}
		}
	case *types.ReconfigVM_Task:
		if sbxHasRDM(req.This) {
			return Fault("sandbox: reconfiguring a VM with a raw device mapping is not supported by vcsim 0.24",
				&types.NotSupported{}), nil
		}
	}
	return sbxDisabled(method.This, method.Name), nil
}

// sbxHasRDM tells whether a VM has a disk with a raw device mapping backing
// (govmomi 0.24's updateDiskLayouts assumes flat backings and panics otherwise).
func sbxHasRDM(ref types.ManagedObjectReference) bool {
	vm, ok := Map.Get(ref).(*VirtualMachine)
	if !ok {
		return false
	}
	found := false
	Map.WithLock(vm, func() {
		for _, d := range vm.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok {
				if _, rdm := disk.Backing.(*types.VirtualDiskRawDiskMappingVer1BackingInfo); rdm {
					found = true
				}
			}
		}
	})
	return found
}

// sbxWriteResponse writes a successful SOAP response the way Service.ServeSDK does.
func sbxWriteResponse(w http.ResponseWriter, res soap.HasFault) {
	var out bytes.Buffer
	fmt.Fprint(&out, xml.Header)
	err := xml.NewEncoder(&out).Encode(&soapEnvelope{
		Enc:  "http://schemas.xmlsoap.org/soap/encoding/",
		Env:  "http://schemas.xmlsoap.org/soap/envelope/",
		XSD:  "http://www.w3.org/2001/XMLSchema",
		XSI:  "http://www.w3.org/2001/XMLSchema-instance",
		Body: &response{Map.Namespace, res},
	})
	if err != nil {
		log.Printf("sandbox: encoding response: %s", err)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out.Bytes())
}

func sbxDisabled(ref types.ManagedObjectReference, name string) *soap.Fault {
	sbx.mu.Lock()
	l := sbx.leasedVMs[ref]
	sbx.mu.Unlock()
	if l == nil {
		return nil
	}
	for _, m := range l.addedMethods {
		if m == name {
			msg := fmt.Sprintf("%s is disabled on %s while export lease %s is active", name, ref.Value, l.Self.Value)
			return Fault(msg, &types.MethodDisabled{Source: "HttpNfcLease"})
		}
	}
	return nil
}

func sbxServeSDK(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if method, err := UnmarshalBody(Map.typeFunc, body); err == nil {
			f, res := sbxPrecheck(method, sbxRequestSession(r))
			if f != nil {
				sbxWriteFault(w, f)
				return
			}
			if res != nil {
				sbxWriteResponse(w, res)
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	sbx.svc.ServeSDK(w, r)
}

func sbxValidLogin(user, pass string) bool {
	if user == "" || pass == "" {
		return false
	}
	if sbx.cfg.AllowAnyLogin {
		return true
	}
	if sbxSamePrincipal(user, sbx.cfg.ServiceUser) && pass == sbx.cfg.ServicePassword {
		return true
	}
	for name, pw := range sbx.cfg.Users {
		if sbxSamePrincipal(user, name) && pass == pw {
			return true
		}
	}
	return false
}

// sbxNormPrincipal splits "DOMAIN\\user" or "user@domain" into lower-case parts.
func sbxNormPrincipal(p string) (string, string) {
	p = strings.ToLower(strings.TrimSpace(p))
	if i := strings.Index(p, "\\"); i >= 0 {
		return p[i+1:], p[:i]
	}
	if i := strings.LastIndex(p, "@"); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}

func sbxSamePrincipal(a, b string) bool {
	ua, da := sbxNormPrincipal(a)
	ub, db := sbxNormPrincipal(b)
	if ua == "" || ua != ub {
		return false
	}
	return da == "" || db == "" || da == db
}

func sbxJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func sbxFaultsJSON() map[string]interface{} {
	f := sbxFaults()
	out := map[string]interface{}{
		"esx_host_unresolvable":      nil,
		"nfc_cut_after_bytes":        f.NfcCutAfterBytes,
		"nfc_bytes_per_second":       f.NfcBytesPerSecond,
		"lease_error_after_seconds":  f.LeaseErrorAfterSeconds,
		"lease_timeout_seconds":      f.LeaseTimeoutSeconds,
		"lease_init_seconds":         f.LeaseInitSeconds,
		"nfc_cut_count":              f.NfcCutCount,
		"nfc_cut_reset":              nil,
		"nfc_content_length":         nil,
		"session_expire_after_calls": f.SessionExpireAfterCalls,
	}
	if f.NfcCutReset {
		out["nfc_cut_reset"] = true
	}
	if f.NfcContentLength {
		out["nfc_content_length"] = true
	}
	if f.EsxHostUnresolvable != "" {
		out["esx_host_unresolvable"] = f.EsxHostUnresolvable
	}
	return out
}

// sbxServeControl implements the small control API under /sandbox/.
func sbxServeControl(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/sandbox/health":
		sbxJSON(w, http.StatusOK, map[string]interface{}{"ok": true, "api_version": vim25.Version})
	case "/sandbox/faults":
		switch r.Method {
		case http.MethodGet:
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				sbxJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			f := sbxFaults()
			if r.Method == http.MethodPut {
				f = SandboxFaults{}
			}
			if len(bytes.TrimSpace(data)) > 0 {
				if err := SandboxParseFaults(&f, data); err != nil {
					sbxJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
					return
				}
			}
			SandboxSetFaults(f)
		case http.MethodDelete:
			SandboxSetFaults(SandboxFaults{})
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		sbxJSON(w, http.StatusOK, sbxFaultsJSON())
	case "/sandbox/sessions":
		switch r.Method {
		case http.MethodGet:
			sbxJSON(w, http.StatusOK, sbxSessionsJSON())
		case http.MethodDelete:
			sbxJSON(w, http.StatusOK, map[string]interface{}{"expired": sbxExpireSessions(r.URL.Query().Get("user"))})
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	case "/sandbox/leases":
		switch r.Method {
		case http.MethodGet:
		case http.MethodDelete:
			sbxResetLeases()
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		sbxJSON(w, http.StatusOK, sbxLeasesJSON())
	default:
		http.NotFound(w, r)
	}
}
