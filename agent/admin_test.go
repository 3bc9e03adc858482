package agent

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// The admin port listens on --admin-address only: reachable there, refused on another
// loopback address of the same host (an injected agent binds its pod's IP, so nothing
// reaches /metrics through an interface the kubelet does not probe).
func TestAdminListensOnItsAddressOnly(t *testing.T) {
	model := serveModel(t)
	c := baseConfig(t, portOf(t, model))
	c.AdminAddress = "127.0.0.2"
	a, _ := start(t, c, Options{})
	if got := a.AdminAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.2" {
		t.Fatalf("admin listens on %s, want 127.0.0.2", got)
	}
	port := strconv.Itoa(c.AdminPort)
	res, err := http.Get("http://127.0.0.2:" + port + "/healthz")
	if err != nil {
		t.Fatalf("/healthz at the admin address: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/healthz answered %d", res.StatusCode)
	}
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); err == nil {
		conn.Close()
		t.Error("the admin port answers on 127.0.0.1 too: it listens on more than its address")
	}
}

func TestAdminAddressDefaultsToLoopback(t *testing.T) {
	model := serveModel(t)
	a, _ := start(t, baseConfig(t, portOf(t, model)), Options{})
	if ip := a.AdminAddr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Errorf("admin listens on %s by default, want loopback", ip)
	}
}

// A client that sends half a request head is cut off once the read-header timeout has
// passed, instead of holding its connection (and a goroutine) for ever.
func TestAdminCutsASlowClient(t *testing.T) {
	model := serveModel(t)
	c := baseConfig(t, portOf(t, model))
	a, _ := start(t, c, Options{})
	srv := a.admin
	if srv.ReadHeaderTimeout != adminReadHeaderTimeout || srv.ReadTimeout != adminReadTimeout || srv.WriteTimeout != adminWriteTimeout || srv.IdleTimeout != adminIdleTimeout || srv.MaxHeaderBytes != adminMaxHeaderBytes {
		t.Fatalf("admin server timeouts %v/%v/%v/%v, header limit %d", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	conn, err := net.Dial("tcp", a.AdminAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /metrics HTTP/1.1\r\nHost: x\r\n") // and never the blank line
	_ = conn.SetReadDeadline(time.Now().Add(adminReadHeaderTimeout + 10*time.Second))
	began := time.Now()
	_, err = io.ReadAll(bufio.NewReader(conn))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the connection was still open %s after the head began", time.Since(began))
	}
}

// serveModel is a model that answers 200 to everything, for tests that need the agent up.
func serveModel(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	return srv.URL
}
