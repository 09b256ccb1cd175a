package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectlBin finds a stock kubectl of the given version ("" = the default).
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

// TestKubectlUsesTheDocuments runs stock kubectl against the documents over
// loopback: 1.27 reads /openapi/v2 (protobuf) for client-side validation of
// a List and for explain; 1.33 reads /openapi/v3.
func TestKubectlUsesTheDocuments(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kubectl binaries")
	}
	if kubectlBin("1.27") == "" || kubectlBin("1.33") == "" {
		t.Skip("kubectl.1.27 and kubectl.1.33 are not installed")
	}
	mux := http.NewServeMux()
	if err := Install(mux, testKinds()); err != nil {
		t.Fatal(err)
	}
	js := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	res := map[string][]metav1.APIResource{}
	for _, k := range testKinds() {
		gv := k.GVK.GroupVersion().String()
		res[gv] = append(res[gv], metav1.APIResource{Name: k.Resource, Namespaced: k.Namespaced, Kind: k.GVK.Kind,
			Verbs: []string{"get", "list", "create", "update", "patch", "delete", "watch"}})
	}
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		js(w, metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}}})
	})
	mux.HandleFunc("/apis", func(w http.ResponseWriter, r *http.Request) {
		l := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, g := range []string{"apps", "batch", "discovery.k8s.io", "coordination.k8s.io"} {
			v := metav1.GroupVersionForDiscovery{GroupVersion: g + "/v1", Version: "v1"}
			l.Groups = append(l.Groups, metav1.APIGroup{Name: g, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
		}
		js(w, l)
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		js(w, map[string]string{"major": "1", "minor": "33", "gitVersion": "v1.33.0+skiff"})
	})
	rl := func(gv string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			js(w, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv, APIResources: res[gv]})
		}
	}
	mux.HandleFunc("/api/v1", rl("v1"))
	for _, g := range []string{"apps", "batch", "discovery.k8s.io", "coordination.k8s.io"} {
		mux.HandleFunc("/apis/"+g+"/v1", rl(g+"/v1"))
	}
	var mu sync.Mutex
	// One stored Deployment, for kubectl apply to GET and PATCH.
	lastApplied := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"team"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"nginx:1","name":"a"},{"image":"busybox:1","name":"b"}]}}}}`
	stored := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"team","uid":"u1","resourceVersion":"5",` +
		`"annotations":{"kubectl.kubernetes.io/last-applied-configuration":` + strconv.Quote(lastApplied) + `}},` +
		`"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},` +
		`"spec":{"containers":[{"image":"nginx:1","name":"a","imagePullPolicy":"IfNotPresent"},{"image":"busybox:1","name":"b"}]}}}}`
	var patches []string
	mux.HandleFunc("/apis/apps/v1/namespaces/team/deployments/web", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			patches = append(patches, r.Header.Get("Content-Type")+" "+string(b))
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, stored)
	})
	var logged []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		logged = append(logged, r.Method+" "+r.URL.String())
		mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dir := t.TempDir()
	kc := dir + "/kc"
	os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: "+srv.URL+"\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n"), 0o600)
	list := dir + "/list.yaml"
	os.WriteFile(list, []byte(`apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, labels: {app: web}}
  spec:
    replicas: 2
    strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: "25%"}}
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}, annotations: {a: b}}
      spec:
        containers:
        - name: web
          image: nginx:1.25
          ports: [{containerPort: 80, name: http}]
          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 1, memory: 1Gi}}
          readinessProbe: {httpGet: {path: /, port: http}}
          env: [{name: A, value: "1"}, {name: B, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
        volumes: [{name: v, emptyDir: {}}]
- apiVersion: v1
  kind: Service
  metadata: {name: web}
  spec:
    type: NodePort
    selector: {app: web}
    ports: [{name: a, port: 80, targetPort: http}, {name: b, port: 81, targetPort: 8081, nodePort: 30081}]
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cfg}
  data: {a: b}
- apiVersion: batch/v1
  kind: Job
  metadata: {name: j}
  spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}
`), 0o600)
	bad := dir + "/bad.yaml"
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: x}\n  bogus: 1\n"), 0o600)
	applyFile := dir + "/apply.yaml"
	os.WriteFile(applyFile, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: team}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: a, image: \"nginx:2\"}\n      - {name: b, image: \"busybox:1\"}\n"), 0o600)
	run := func(version string, args ...string) (string, error) {
		cmd := exec.Command(kubectlBin(version), append([]string{"--kubeconfig", kc, "--cache-dir", dir + "/cache-" + version}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, v := range []string{"1.27", "1.33"} {
		out, err := run(v, "create", "-f", list, "--dry-run=client", "-o", "name")
		if err != nil || !strings.Contains(out, "deployment.apps/web") || !strings.Contains(out, "job.batch/j") {
			t.Errorf("kubectl %s create of a valid List: %v\n%s", v, err, out)
		}
		out, err = run(v, "create", "-f", bad, "--dry-run=client", "-o", "name")
		if err == nil || !strings.Contains(out, `unknown field "bogus"`) {
			t.Errorf("kubectl %s accepted an unknown field: %v\n%s", v, err, out)
		}
		mu.Lock()
		patches = nil
		mu.Unlock()
		out, err = run(v, "apply", "-f", applyFile)
		mu.Lock()
		got := strings.Join(patches, "\n")
		mu.Unlock()
		if err != nil || strings.Contains(out, "warning") || !strings.Contains(out, "deployment.apps/web configured") ||
			!strings.HasPrefix(got, "application/strategic-merge-patch+json") ||
			!strings.Contains(got, `"$setElementOrder/containers":[{"name":"a"},{"name":"b"}]`) ||
			!strings.Contains(got, `{"image":"nginx:2","name":"a"}`) {
			t.Errorf("kubectl %s apply: %v\n%s\npatch: %s", v, err, out, got)
		}
		out, err = run(v, "explain", "deployment.spec.template.spec.containers.ports")
		if err != nil || !strings.Contains(out, "containerPort") || !strings.Contains(out, "List of ports to expose") {
			t.Errorf("kubectl %s explain: %v\n%s", v, err, out)
		}
	}
	var sawV2, sawV3 bool
	for _, l := range logged {
		sawV2 = sawV2 || strings.HasPrefix(l, "GET /openapi/v2")
		sawV3 = sawV3 || strings.HasPrefix(l, "GET /openapi/v3/apis/apps/v1?hash=")
	}
	if !sawV2 || !sawV3 {
		t.Errorf("kubectl did not fetch both documents: %v", logged)
	}
}
