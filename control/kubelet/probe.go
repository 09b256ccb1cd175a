package kubelet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// checkFunc runs one probe attempt; nil means success.
type checkFunc func(ctx context.Context) error

// probeTimings are a probe's timing fields with Kubernetes defaults applied.
type probeTimings struct {
	initialDelay, period, timeout time.Duration
	success, failure              int
}

func timings(p *v1.Probe) probeTimings {
	t := probeTimings{
		initialDelay: time.Duration(p.InitialDelaySeconds) * time.Second,
		period:       time.Duration(p.PeriodSeconds) * time.Second,
		timeout:      time.Duration(p.TimeoutSeconds) * time.Second,
		success:      int(p.SuccessThreshold),
		failure:      int(p.FailureThreshold),
	}
	if t.period <= 0 {
		t.period = 10 * time.Second
	}
	if t.timeout <= 0 {
		t.timeout = time.Second
	}
	if t.success <= 0 {
		t.success = 1
	}
	if t.failure <= 0 {
		t.failure = 3
	}
	return t
}

// runProbe runs check every period after the initial delay until ctx ends.
// It calls report(true) once success consecutive attempts pass and
// report(false, msg) once failure consecutive attempts fail; report fires
// again only when the verdict flips, except failures, which are reported at
// each threshold crossing so liveness can act every time. stop, if it
// returns true after a report, ends the loop (startup probes).
func runProbe(ctx context.Context, t probeTimings, check checkFunc, report func(ok bool, msg string) (stop bool)) {
	if t.initialDelay > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(t.initialDelay):
		}
	}
	tick := time.NewTicker(t.period)
	defer tick.Stop()
	succ, fail := 0, 0
	verdict := 0 // 0 unknown, 1 ok, -1 failed
	for {
		cctx, cancel := context.WithTimeout(ctx, t.timeout)
		err := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			succ, fail = succ+1, 0
			if succ >= t.success && verdict != 1 {
				verdict = 1
				if report(true, "") {
					return
				}
			}
		} else {
			succ, fail = 0, fail+1
			if fail >= t.failure {
				verdict, fail = -1, 0
				if report(false, err.Error()) {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// resolvePort turns a probe's port (number or container port name) into a number.
func resolvePort(p intstr.IntOrString, c *v1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("port %d out of range", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, p.StrVal)
}

func probeClient(dial dialFunc) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // kubelet probes do not verify, as in Kubernetes
		DisableKeepAlives: true,
		DialContext:       dial,
	}}
}

// httpCheck GETs the URL; any status 200-399 passes.
func httpCheck(g *v1.HTTPGetAction, podIP string, c *v1.Container, dial dialFunc) (checkFunc, error) {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	scheme := "http"
	if g.Scheme == v1.URISchemeHTTPS {
		scheme = "https"
	}
	path := g.Path
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	target := u.String() + path
	client := probeClient(dial)
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/skiff")
		for _, h := range g.HTTPHeaders {
			if h.Name == "Host" {
				req.Host = h.Value
			} else {
				req.Header.Add(h.Name, h.Value)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("HTTP probe %s failed: %w", target, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe %s failed with statuscode: %d", target, resp.StatusCode)
		}
		return nil
	}, nil
}

// tcpCheck passes when a TCP connection opens.
func tcpCheck(t *v1.TCPSocketAction, podIP string, c *v1.Container, dial dialFunc) (checkFunc, error) {
	port, err := resolvePort(t.Port, c)
	if err != nil {
		return nil, err
	}
	host := t.Host
	if host == "" {
		host = podIP
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	return func(ctx context.Context) error {
		conn, err := dial(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("TCP probe %s failed: %w", addr, err)
		}
		conn.Close()
		return nil
	}, nil
}
