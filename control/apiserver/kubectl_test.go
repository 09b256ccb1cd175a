package apiserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func kubectl(t *testing.T, bin, kubeconfig, home string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECACHEDIR="+filepath.Join(home, "cache"))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const cmManifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: smoke
  labels:
    app: smoke
data:
  greeting: hello
`

func TestKubectlSmoke(t *testing.T) {
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not on PATH")
	}
	run := startTest(t)
	home := t.TempDir()
	k := func(stdin string, args ...string) string {
		t.Helper()
		out, err := kubectl(t, bin, run.Kubeconfig, home, stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	out := k("", "get", "ns")
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease", "Active"} {
		if !strings.Contains(out, ns) {
			t.Fatalf("get ns lacks %s:\n%s", ns, out)
		}
	}
	out = k(cmManifest, "create", "-f", "-")
	if !strings.Contains(out, "configmap/smoke created") {
		t.Fatalf("create: %s", out)
	}
	out = k("", "get", "cm", "smoke", "-o", "yaml")
	for _, want := range []string{"greeting: hello", "kind: ConfigMap", "resourceVersion:", "uid:", "app: smoke"} {
		if !strings.Contains(out, want) {
			t.Fatalf("get -o yaml lacks %q:\n%s", want, out)
		}
	}
	out = k("", "get", "cm")
	if !strings.Contains(out, "DATA") || !strings.Contains(out, "smoke") {
		t.Fatalf("get cm table:\n%s", out)
	}
	if out := k("", "auth", "can-i", "create", "pods"); strings.TrimSpace(out) != "yes" {
		t.Fatalf("auth can-i: %q", out)
	}
	out = k("", "delete", "cm", "smoke")
	if !strings.Contains(out, `configmap "smoke" deleted`) {
		t.Fatalf("delete: %s", out)
	}
	if out, err := kubectl(t, bin, run.Kubeconfig, home, "", "get", "cm", "smoke"); err == nil || !strings.Contains(out, `Error from server (NotFound): configmaps "smoke" not found`) {
		t.Fatalf("get after delete: %v %s", err, out)
	}
}

const workflowManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  a: "1"
`

// kubectlBinaries returns kubectl and, when installed beside it, the
// oldest and newest versioned binaries.
func kubectlBinaries(t *testing.T) map[string]string {
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not on PATH")
	}
	out := map[string]string{"kubectl": bin}
	real, err := filepath.EvalSymlinks(bin)
	if err == nil {
		for _, v := range []string{"kubectl.1.27", "kubectl.1.33"} {
			p := filepath.Join(filepath.Dir(real), v)
			if _, err := os.Stat(p); err == nil {
				out[v] = p
			}
		}
	}
	return out
}

func TestKubectlWorkflowAcrossVersions(t *testing.T) {
	bins := kubectlBinaries(t)
	run := startTest(t)
	for name, bin := range bins {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			ns := "wf-" + strings.ReplaceAll(strings.TrimPrefix(name, "kubectl"), ".", "")
			if ns == "wf-" {
				ns = "wf-default"
			}
			k := func(stdin string, args ...string) string {
				t.Helper()
				out, err := kubectl(t, bin, run.Kubeconfig, home, stdin, args...)
				if err != nil {
					t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
				}
				return out
			}
			if out := k("", "create", "namespace", ns); !strings.Contains(out, "namespace/"+ns+" created") {
				t.Fatalf("create ns: %s", out)
			}
			out := k(workflowManifest, "apply", "-n", ns, "-f", "-")
			for _, want := range []string{"deployment.apps/web created", "service/web created", "configmap/cfg created"} {
				if !strings.Contains(out, want) {
					t.Fatalf("apply lacks %q:\n%s", want, out)
				}
			}
			out = k(workflowManifest, "apply", "-n", ns, "-f", "-")
			if strings.Count(out, "unchanged") != 3 {
				t.Fatalf("second apply not unchanged:\n%s", out)
			}
			out = k("", "get", "deploy,svc", "-n", ns, "-o", "wide")
			for _, want := range []string{"UP-TO-DATE", "SELECTOR", "nginx:1.25", "CLUSTER-IP", "80/TCP", "app=web"} {
				if !strings.Contains(out, want) {
					t.Fatalf("get -o wide lacks %q:\n%s", want, out)
				}
			}
			k("", "scale", "deploy/web", "-n", ns, "--replicas=3")
			if out := k("", "get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}"); out != "3" {
				t.Fatalf("after scale: %q", out)
			}
			k("", "label", "cm", "cfg", "-n", ns, "tier=x")
			if out := k("", "get", "cm", "-n", ns, "-l", "tier=x", "-o", "name"); strings.TrimSpace(out) != "configmap/cfg" {
				t.Fatalf("label selector: %q", out)
			}
			k("", "patch", "cm", "cfg", "-n", ns, "--type", "merge", "-p", `{"data":{"a":"2"}}`)
			if out := k("", "get", "cm", "cfg", "-n", ns, "-o", "jsonpath={.data.a}"); out != "2" {
				t.Fatalf("after patch: %q", out)
			}
			if out, err := kubectl(t, bin, run.Kubeconfig, home, strings.ReplaceAll(cmManifest, "name: smoke", "name: Bad_Name"), "apply", "-n", ns, "-f", "-"); err == nil ||
				!strings.Contains(out, `The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"`) {
				t.Fatalf("bad manifest: %v\n%s", err, out)
			}
			if out := k("", "describe", "deploy", "web", "-n", ns); !strings.Contains(out, "Replicas:               3 desired") || !strings.Contains(out, "nginx:1.25") {
				t.Fatalf("describe:\n%s", out)
			}
			if out := k("", "get", "svc", "web", "-n", ns, "-o", "json"); !strings.Contains(out, `"clusterIP": "10.`) {
				t.Fatalf("get -o json:\n%s", out)
			}
			if out := k("", "api-resources"); !strings.Contains(out, "deploy") || !strings.Contains(out, "endpointslices") {
				t.Fatalf("api-resources:\n%s", out)
			}
			if out := k("", "cluster-info"); !strings.Contains(out, run.URL) {
				t.Fatalf("cluster-info:\n%s", out)
			}
			if out := k("", "get", "all", "-n", ns, "-o", "name"); !strings.Contains(out, "deployment.apps/web") || !strings.Contains(out, "service/web") {
				t.Fatalf("get all:\n%s", out)
			}
			k("", "delete", "-n", ns, "deploy/web", "svc/web", "cm/cfg")
			// kube-root-ca.crt is the namespace's own, as in Kubernetes.
			if out := k("", "get", "deploy,svc,cm", "-n", ns, "-o", "name"); strings.TrimSpace(strings.Replace(out, "configmap/kube-root-ca.crt", "", 1)) != "" {
				t.Fatalf("left after delete: %q", out)
			}
		})
	}
}

func TestKubectlGetWatch(t *testing.T) {
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not on PATH")
	}
	run := startTest(t)
	home := t.TempDir()
	if out, err := kubectl(t, bin, run.Kubeconfig, home, cmManifest, "create", "-f", "-"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cmd := exec.Command(bin, "--kubeconfig", run.Kubeconfig, "get", "cm", "smoke", "-w", "--request-timeout=0")
	cmd.Env = append(os.Environ(), "HOME="+home)
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(buf.String(), "smoke") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let the watch request reach the server
	if out, err := kubectl(t, bin, run.Kubeconfig, home, "", "patch", "cm", "smoke", "--type", "merge", "-p", `{"data":{"a":"1","b":"2"}}`); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for time.Now().Before(deadline) {
		if strings.Count(buf.String(), "smoke") >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) < 3 || !strings.Contains(lines[len(lines)-1], "smoke   3") {
		t.Fatalf("get -w did not show the change:\n%s", buf.String())
	}
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
