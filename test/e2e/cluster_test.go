package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffnet/skiff/internal/freeport"
)

// requireE2E skips unless SKIFF_E2E=1.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("SKIFF_E2E") != "1" {
		t.Skip("end-to-end test: set SKIFF_E2E=1 (make test-e2e)")
	}
}

// skiffBinary builds the skiff binary once per test process.
func skiffBinary(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	out := filepath.Join(os.TempDir(), fmt.Sprintf("skiff-e2e-%d", os.Getpid()))
	if _, err := os.Stat(out); err == nil {
		return out
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/skiff")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build skiff: %v\n%s", err, b)
	}
	t.Cleanup(func() { os.Remove(out) })
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// daemon starts a background process in its own session with stdin from
// /dev/null, logging to a file in dir; it is killed at test end.
func daemon(t *testing.T, dir, name string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644) // a restarted daemon appends
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_, _ = cmd.Process.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			// Keep the whole log: the test's directory is removed.
			keep := filepath.Join(os.TempDir(), "skiff-e2e-"+strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".log")
			if os.WriteFile(keep, b, 0o644) == nil {
				t.Logf("whole %s log kept in %s", name, keep)
			}
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("--- last lines of %s log ---\n%s", name, b)
		}
	})
	return cmd
}

// cluster is a running skiff server (with hollow nodes when asked).
type cluster struct {
	t          *testing.T
	dir        string
	kubeconfig string
	bin        string
	url        string
}

func (c *cluster) serverURL() string { return c.url }

func startCluster(t *testing.T, hollowNodes int, serverArgs ...string) *cluster {
	t.Helper()
	bin := skiffBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	daemon(t, dir, "server", append([]string{bin, "server",
		"--data-dir", filepath.Join(dir, "server"),
		"--bind-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(port)}, serverArgs...)...)
	kc := filepath.Join(dir, "server", "admin.kubeconfig")
	c := &cluster{t: t, dir: dir, kubeconfig: kc, bin: bin, url: fmt.Sprintf("https://127.0.0.1:%d", port)}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(kc); err == nil {
			if _, err := c.kubectlErr("get", "--raw", "/readyz"); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("skiff server did not become ready within 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if hollowNodes > 0 {
		daemon(t, dir, "hollow", bin, "dev", "hollow-nodes", "--kubeconfig", kc, "--count", fmt.Sprint(hollowNodes))
		c.eventually("hollow nodes Ready", 60*time.Second, func() error {
			out, err := c.kubectlErr("get", "nodes", "--no-headers")
			if err != nil {
				return err
			}
			if n := strings.Count(out, " Ready "); n < hollowNodes {
				return fmt.Errorf("%d of %d nodes Ready:\n%s", n, hollowNodes, out)
			}
			return nil
		})
	}
	return c
}

// kubectlErr runs the stock kubectl (or KUBECTL) against the cluster.
func (c *cluster) kubectlErr(args ...string) (string, error) {
	return c.kubectlWith(os.Getenv("KUBECTL"), nil, args...)
}

func (c *cluster) kubectlWith(bin string, stdin []byte, args ...string) (string, error) {
	if bin == "" {
		bin = "kubectl"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.dir, "KUBECACHEDIR="+filepath.Join(c.dir, "kcache"))
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectlErr(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cluster) apply(manifest string, args ...string) string {
	c.t.Helper()
	out, err := c.kubectlWith(os.Getenv("KUBECTL"), []byte(manifest), append([]string{"apply", "-f", "-"}, args...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cluster) eventually(what string, d time.Duration, f func() error) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.t.Fatalf("%s: not reached within %s: %v", what, d, err)
}
