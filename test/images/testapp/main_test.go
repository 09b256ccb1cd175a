package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, base, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPEndpoints(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "unhealthy")
	s := &server{healthzFile: flag}
	ts := httptest.NewServer(s.routes())
	defer ts.Close()
	host, _ := os.Hostname()
	if code, body := get(t, ts.URL, "/hostname"); code != 200 || body != host {
		t.Fatalf("/hostname: %d %q", code, body)
	}
	if _, body := get(t, ts.URL, "/echo?msg=hello%20there"); body != "hello there" {
		t.Fatalf("/echo: %q", body)
	}
	if _, body := get(t, ts.URL, "/clientip"); !strings.HasPrefix(body, "127.0.0.1:") {
		t.Fatalf("/clientip: %q", body)
	}
	if _, body := get(t, ts.URL, "/dnslookup?name=localhost"); !strings.Contains(body, "127.0.0.1") && !strings.Contains(body, "::1") {
		t.Fatalf("/dnslookup localhost: %q", body)
	}
	if code, _ := get(t, ts.URL, "/dnslookup"); code != 400 {
		t.Fatalf("/dnslookup without name: %d", code)
	}
	steps := []struct {
		path string
		want int
	}{{"/healthz", 200}, {"/healthz/fail", 200}, {"/healthz", 500}, {"/healthz/ok", 200}, {"/healthz", 200}}
	for _, st := range steps {
		if code, body := get(t, ts.URL, st.path); st.path == "/healthz" && code != st.want {
			t.Fatalf("%s: %d %q, want %d", st.path, code, body, st.want)
		}
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, ts.URL, "/healthz"); code != 500 {
		t.Fatalf("/healthz with flag file: %d", code)
	}
}

func TestLineCommands(t *testing.T) {
	host, _ := os.Hostname()
	for in, want := range map[string]string{"hostname\n": host, "clientip": "1.2.3.4:5", "echo a b\r\n": "a b", "xyz": "xyz"} {
		if got := answer(in, "1.2.3.4:5"); got != want {
			t.Errorf("answer(%q)=%q want %q", in, got, want)
		}
	}
}

func TestUDPAndTCPEcho(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go serveUDP(pc)
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("echo over udp"))
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "over udp" {
		t.Fatalf("udp echo: %q %v", buf[:n], err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveTCP(ln)
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(tc)
	for _, q := range []string{"clientip", "echo two"} {
		tc.Write([]byte(q + "\n"))
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimSpace(line)
		if q == "clientip" && line != tc.LocalAddr().String() || q == "echo two" && line != "two" {
			t.Fatalf("tcp %q -> %q", q, line)
		}
	}
}
