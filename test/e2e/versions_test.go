package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestE2EKubectlVersions runs the core verbs with every installed kubectl
// from 1.27 to 1.33: 1.27/1.28 validate with OpenAPI v2, 1.29+ with v3, and
// 1.32+ send protobuf bodies for typed creates.
func TestE2EKubectlVersions(t *testing.T) {
	requireE2E(t)
	c := startCluster(t, 0)
	found := 0
	for minor := 27; minor <= 33; minor++ {
		bin := fmt.Sprintf("kubectl.1.%d", minor)
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		found++
		t.Run(bin, func(t *testing.T) {
			ns := fmt.Sprintf("v1-%d", minor)
			run := func(stdin string, args ...string) string {
				t.Helper()
				var in []byte
				if stdin != "" {
					in = []byte(stdin)
				}
				out, err := c.kubectlWith(bin, in, args...)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			run("", "create", "namespace", ns)
			run("", "-n", ns, "create", "configmap", "c1", "--from-literal=k=v")
			manifest := strings.ReplaceAll(`apiVersion: apps/v1
kind: Deployment
metadata: {name: d1, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: d1}}
  template:
    metadata: {labels: {app: d1}}
    spec:
      containers: [{name: c, image: skiff/testapp:v1}]
`, "NS", ns)
			if out := run(manifest, "apply", "-f", "-"); !strings.Contains(out, "deployment.apps/d1 created") {
				t.Fatalf("apply: %s", out)
			}
			if out := run(manifest, "apply", "-f", "-"); !strings.Contains(out, "deployment.apps/d1 unchanged") {
				t.Fatalf("re-apply: %s", out)
			}
			if out := run("", "-n", ns, "get", "deploy,cm", "-o", "wide"); !strings.Contains(out, "d1") || !strings.Contains(out, "c1") {
				t.Fatalf("get: %s", out)
			}
			if out := run("", "version"); !strings.Contains(out, "Server Version") {
				t.Fatalf("version: %s", out)
			}
			run("", "delete", "namespace", ns, "--wait=false")
		})
	}
	if found == 0 {
		t.Skip("no versioned kubectl.1.NN binaries installed")
	}
}
