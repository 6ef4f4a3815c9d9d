// vCenter sandbox overlay: NFC disk download handler (GET /nfc/<ticket>/<disk>).
//
// Compiled into github.com/vmware/govmomi/simulator with `go build -overlay`.
// Tickets that are not export leases fall through to the library's ServeNFC
// (used by ImportVApp uploads).
package simulator

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

var (
	sbxErrCut        = errors.New("nfc stream cut (sandbox fault)")
	sbxErrLeaseEnded = errors.New("export lease is no longer ready")
)

// sbxStreamWriter applies the stream faults and watches the lease state.
type sbxStreamWriter struct {
	w       http.ResponseWriter
	lease   *sandboxLease
	sent    int64
	cutAt   int64 // -1: off
	rate    int64 // bytes/second, 0: unlimited
	start   time.Time
	flusher http.Flusher
}

func (s *sbxStreamWriter) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if atomic.LoadInt32(&s.lease.state) != sbxLeaseReady {
			return total, sbxErrLeaseEnded
		}
		chunk := p
		if s.rate > 0 {
			// small slices so a low rate still trickles out smoothly
			max := s.rate / 20
			if max < 512 {
				max = 512
			}
			if int64(len(chunk)) > max {
				chunk = chunk[:max]
			}
			due := s.start.Add(time.Duration(float64(s.sent+int64(len(chunk))) / float64(s.rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		if s.cutAt >= 0 && s.sent+int64(len(chunk)) > s.cutAt {
			chunk = chunk[:s.cutAt-s.sent]
			if len(chunk) > 0 {
				n, err := s.w.Write(chunk)
				s.account(n)
				total += n
				if err != nil {
					return total, err
				}
			}
			return total, sbxErrCut
		}
		n, err := s.w.Write(chunk)
		s.account(n)
		total += n
		if err != nil {
			return total, err
		}
		p = p[len(chunk):]
	}
	return total, nil
}

func (s *sbxStreamWriter) account(n int) {
	s.sent += int64(n)
	atomic.AddInt64(&s.lease.bytesServed, int64(n))
}

// sbxServeNFC serves vCenter's own listener: leases whose device URLs name it.
func sbxServeNFC(w http.ResponseWriter, r *http.Request) {
	sbxServeNFCOn(w, r, types.ManagedObjectReference{})
}

// sbxServeNFCOn serves the NFC of one server: vCenter (a zero server) or the
// ESX host whose listener the request came to. Each knows only its own tickets.
func sbxServeNFCOn(w http.ResponseWriter, r *http.Request, server types.ManagedObjectReference) {
	rest := strings.TrimPrefix(r.URL.Path, nfcPrefix)
	parts := strings.Split(rest, "/")
	if len(parts) != 2 {
		http.NotFound(w, r)
		return
	}
	ticket, name := parts[0], parts[1]

	sbx.mu.Lock()
	l := sbx.tickets[ticket]
	sbx.mu.Unlock()
	if l == nil {
		sbx.mu.Lock()
		for _, x := range sbx.leases {
			if x.ticket == ticket {
				l = x
			}
		}
		sbx.mu.Unlock()
		if l == nil {
			ServeNFC(w, r) // library import leases (or 404)
			return
		}
	}
	if l.servedBy != server {
		http.NotFound(w, r)
		return
	}

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	cookie, err := r.Cookie(soap.SessionCookieName)
	if err != nil || cookie.Value == "" {
		http.Error(w, "missing "+soap.SessionCookieName+" cookie", http.StatusUnauthorized)
		return
	}
	if _, ok := sbx.svc.sm.getSession(cookie.Value); !ok {
		http.Error(w, "invalid or expired session", http.StatusUnauthorized)
		return
	}

	var disk *sbxLeaseDisk
	for _, d := range l.disks {
		if d.name == name {
			disk = d
		}
	}
	if disk == nil {
		http.NotFound(w, r)
		return
	}
	if st := atomic.LoadInt32(&l.state); st != sbxLeaseReady {
		http.Error(w, fmt.Sprintf("export lease %s is %s", l.Self.Value, sbxStateName(st)), http.StatusConflict)
		return
	}

	faults := sbxFaults()
	h := w.Header()
	h.Set("Content-Type", "application/x-vnd.vmware-streamVmdk")
	if faults.NfcContentLength {
		h.Set("Content-Length", strconv.FormatInt(disk.vmdk.size, 10))
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	atomic.AddInt64(&l.downloads, 1)
	w.WriteHeader(http.StatusOK)

	sw := &sbxStreamWriter{w: w, lease: l, cutAt: -1, start: time.Now()}
	sw.flusher, _ = w.(http.Flusher)
	if faults.NfcCutAfterBytes != nil && sbxTakeCut() {
		sw.cutAt = *faults.NfcCutAfterBytes
	}
	if faults.NfcBytesPerSecond != nil {
		sw.rate = *faults.NfcBytesPerSecond
	}
	_, err = disk.vmdk.WriteTo(sw)
	if err != nil {
		if sw.flusher != nil {
			sw.flusher.Flush()
		}
		if err == sbxErrCut && faults.NfcCutReset && sbxResetConnection(w) {
			return
		}
		// Abort the response: the connection is closed before Content-Length bytes.
		panic(http.ErrAbortHandler)
	}
}

// sbxTakeCut consumes one download of the nfc_cut_count budget; true if this
// download must be cut (always when no count is set).
func sbxTakeCut() bool {
	sbx.mu.Lock()
	defer sbx.mu.Unlock()
	n := sbx.faults.NfcCutCount
	if n == nil {
		return true
	}
	if *n <= 0 {
		return false
	}
	left := *n - 1
	sbx.faults.NfcCutCount = &left
	return true
}

// sbxResetConnection closes the client connection with a TCP RST (SO_LINGER 0),
// what a client sees when a firewall or a restarted ESX host drops it.
func sbxResetConnection(w http.ResponseWriter) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	raw := conn
	if t, ok := conn.(*tls.Conn); ok {
		raw = t.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = raw.Close()
	return true
}
