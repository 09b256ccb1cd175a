// Command testapp is the network test server in Skiff's test images, in the
// spirit of Kubernetes' agnhost netexec. It is built static (CGO_ENABLED=0)
// and packed into skiff/testapp images by test/images/build.sh.
//
// HTTP (--http-port, default 8080):
//
//	/hostname          the pod's hostname
//	/echo?msg=TEXT     TEXT
//	/clientip          the caller's ip:port as this server sees it
//	/healthz           200 "ok", or 500 once failing (see below)
//	/healthz/fail      make /healthz fail; /healthz/ok makes it pass again
//	/dnslookup?name=N  the addresses N resolves to, one per line (500 on error)
//	/version           the VERSION environment variable
//	/exit?code=N       exit with status N (for restart tests)
//
// /healthz also fails while the file named by --healthz-file exists.
// UDP (--udp-port, default 8081) and every --tcp-port answer line commands:
// "hostname", "clientip", "echo TEXT"; anything else is echoed back.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type portList []int

func (p *portList) String() string { return fmt.Sprint(*p) }
func (p *portList) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("bad port %q: want 1-65535", f)
		}
		*p = append(*p, n)
	}
	return nil
}

func main() {
	httpPort := flag.Int("http-port", 8080, "HTTP port")
	udpPort := flag.Int("udp-port", 8081, "UDP echo port (0 disables)")
	var tcpPorts portList
	flag.Var(&tcpPorts, "tcp-port", "extra TCP line-echo port; repeat or comma-separate")
	healthzFile := flag.String("healthz-file", "", "while this file exists /healthz fails")
	shutdownDelay := flag.Duration("shutdown-delay", 0, "keep serving this long after SIGTERM")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	s := &server{healthzFile: *healthzFile}
	if *udpPort != 0 {
		pc, err := net.ListenPacket("udp", fmt.Sprintf(":%d", *udpPort))
		if err != nil {
			log.Fatal(err)
		}
		go func() { log.Fatal(serveUDP(pc)) }()
	}
	for _, p := range tcpPorts {
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			log.Fatal(err)
		}
		go func() { log.Fatal(serveTCP(ln)) }()
	}
	srv := &http.Server{Addr: fmt.Sprintf(":%d", *httpPort), Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-sigs
		log.Printf("got %v; shutting down in %v", sig, *shutdownDelay)
		time.Sleep(*shutdownDelay)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	log.Printf("testapp %s: http :%d udp :%d tcp %v", os.Getenv("VERSION"), *httpPort, *udpPort, tcpPorts)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	log.Print("stopped")
}

type server struct {
	healthzFile string
	failing     atomic.Bool
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, r *http.Request) {
		h, _ := os.Hostname()
		fmt.Fprint(w, h)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Query().Get("msg"))
	})
	mux.HandleFunc("/clientip", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.RemoteAddr)
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv("VERSION"))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if reason := s.unhealthy(); reason != "" {
			http.Error(w, "fail: "+reason, http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/healthz/fail", func(w http.ResponseWriter, r *http.Request) {
		s.failing.Store(true)
		fmt.Fprint(w, "healthz now fails")
	})
	mux.HandleFunc("/healthz/ok", func(w http.ResponseWriter, r *http.Request) {
		s.failing.Store(false)
		fmt.Fprint(w, "healthz now passes")
	})
	mux.HandleFunc("/dnslookup", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			http.Error(w, "missing ?name=", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupHost(ctx, name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, strings.Join(addrs, "\n"))
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			code = 0
		}
		log.Printf("exiting with %d as asked by %s", code, r.RemoteAddr)
		os.Exit(code)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h, _ := os.Hostname()
		fmt.Fprintf(w, "testapp %s on %s\n", os.Getenv("VERSION"), h)
	})
	return logRequests(mux)
}

func (s *server) unhealthy() string {
	if s.failing.Load() {
		return "switched off via /healthz/fail"
	}
	if s.healthzFile != "" {
		if _, err := os.Stat(s.healthzFile); err == nil {
			return s.healthzFile + " exists"
		}
	}
	return ""
}

func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s %s", r.RemoteAddr, r.Method, r.URL.RequestURI())
		h.ServeHTTP(w, r)
	})
}

// answer handles one line command for the UDP and TCP listeners.
func answer(line, client string) string {
	line = strings.TrimRight(line, "\r\n")
	switch {
	case line == "hostname":
		h, _ := os.Hostname()
		return h
	case line == "clientip":
		return client
	case strings.HasPrefix(line, "echo "):
		return strings.TrimPrefix(line, "echo ")
	}
	return line
}

func serveUDP(pc net.PacketConn) error {
	buf := make([]byte, 64<<10)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		_, _ = pc.WriteTo([]byte(answer(string(buf[:n]), addr.String())), addr)
	}
}

func serveTCP(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				if _, err := fmt.Fprintln(c, answer(sc.Text(), c.RemoteAddr().String())); err != nil {
					return
				}
			}
		}()
	}
}
