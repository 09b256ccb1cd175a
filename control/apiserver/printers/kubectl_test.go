package printers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func kubectlBin(version string) string {
	name := "kubectl"
	if version != "" {
		name += "." + version
	}
	for _, dir := range []string{"/usr/lib/google-cloud-sdk/bin", "/usr/bin", "/usr/local/bin"} {
		if _, err := os.Stat(dir + "/" + name); err == nil {
			return dir + "/" + name
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// TestKubectlPrintsTables serves tables over loopback to stock kubectl and
// checks what `kubectl get` prints, including -o wide, -A and --show-labels
// (which read the row objects).
func TestKubectlPrintsTables(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kubectl binaries")
	}
	if kubectlBin("1.27") == "" || kubectlBin("") == "" {
		t.Skip("kubectl and kubectl.1.27 are not installed")
	}
	created := metav1.NewTime(time.Now().Add(-90 * time.Second))
	pods := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "10"}, Items: []corev1.Pod{{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "team", Labels: map[string]string{"app": "web"}, CreationTimestamp: created},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.7", ContainerStatuses: []corev1.ContainerStatus{{
			Name: "c", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}}}
	replicas := int32(3)
	deps := &appsv1.DeploymentList{Items: []appsv1.Deployment{{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team", CreationTimestamp: created},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.25"}}}}},
		Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2},
	}}}

	js := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		js(w, metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}})
	})
	mux.HandleFunc("/apis", func(w http.ResponseWriter, r *http.Request) {
		v := metav1.GroupVersionForDiscovery{GroupVersion: "apps/v1", Version: "v1"}
		js(w, metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
			Groups: []metav1.APIGroup{{Name: "apps", Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v}}})
	})
	verbs := metav1.Verbs{"get", "list", "watch"}
	mux.HandleFunc("/api/v1", func(w http.ResponseWriter, r *http.Request) {
		js(w, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "v1",
			APIResources: []metav1.APIResource{{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: verbs, ShortNames: []string{"po"}}}})
	})
	mux.HandleFunc("/apis/apps/v1", func(w http.ResponseWriter, r *http.Request) {
		js(w, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "apps/v1",
			APIResources: []metav1.APIResource{{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: verbs}}})
	})
	serveTable := func(obj runtime.Object) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.Header.Get("Accept"), "as=Table") {
				js(w, obj)
				return
			}
			tbl, err := ToTable(obj, Options{IncludeObject: metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject"))})
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			js(w, tbl)
		}
	}
	mux.HandleFunc("/api/v1/pods", serveTable(pods))
	mux.HandleFunc("/api/v1/namespaces/team/pods", serveTable(pods))
	mux.HandleFunc("/apis/apps/v1/namespaces/team/deployments", serveTable(deps))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	kc := dir + "/kc"
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: " + srv.URL +
		"\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: team\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n"
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(version string, args ...string) string {
		cmd := exec.Command(kubectlBin(version), append([]string{"--kubeconfig", kc, "--cache-dir", dir + "/cache-" + version}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s %v: %v\n%s", version, args, err, out)
		}
		return string(out)
	}
	// fields normalises spacing and the age cell, which depends on timing.
	age := regexp.MustCompile(`\b(9\d|1\d\d)s\b|\b\dm\d*s?\b`)
	fields := func(s string) string { return age.ReplaceAllString(strings.Join(strings.Fields(s), " "), "AGE") }
	for _, v := range []string{"1.27", ""} {
		out := fields(run(v, "get", "pods", "-o", "wide"))
		want := "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES web-1 1/1 Running 0 AGE 10.244.0.7 node-a <none> <none>"
		if out != want {
			t.Errorf("kubectl %s get pods -o wide =\n%s\nwant\n%s", v, out, want)
		}
		out = fields(run(v, "get", "pods", "-A", "--show-labels"))
		if !strings.Contains(out, "NAMESPACE NAME READY STATUS RESTARTS AGE LABELS team web-1 1/1 Running 0 AGE app=web") {
			t.Errorf("kubectl %s get pods -A --show-labels =\n%s", v, out)
		}
		out = fields(run(v, "get", "deployments"))
		if !strings.HasPrefix(out, "NAME READY UP-TO-DATE AVAILABLE AGE web 2/3 3 2 AGE") {
			t.Errorf("kubectl %s get deployments =\n%s", v, out)
		}
		out = fields(run(v, "get", "pods", "--sort-by", ".status.podIP"))
		if !strings.HasPrefix(out, "NAME READY STATUS RESTARTS AGE web-1 1/1 Running 0") {
			t.Errorf("kubectl %s get pods --sort-by =\n%s", v, out)
		}
	}
}
