package validation

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func om(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", ResourceVersion: "7"}
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.25",
		Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}}
}

func deployment() *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: om("web"), Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: podSpec()}}}
}

func service() *corev1.Service {
	return &corev1.Service{ObjectMeta: om("web"), Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
}

// errorsAt returns "path:type" for each error, for compact comparison.
func errorsAt(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+":"+string(e.Type))
	}
	return out
}

func checkErrors(t *testing.T, name string, errs field.ErrorList, want ...string) {
	t.Helper()
	got := errorsAt(errs)
	if len(want) == 0 {
		if len(got) != 0 {
			t.Errorf("%s: unexpected errors %v", name, errs)
		}
		return
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want error %q, got %v", name, w, errs)
		}
	}
}

func TestValidObjectsPassAfterDefaulting(t *testing.T) {
	ss := func(n string) *int32 { v := int32(1); _ = n; return &v }
	objs := []runtime.Object{
		&corev1.Pod{ObjectMeta: om("p"), Spec: podSpec()},
		deployment(),
		&appsv1.ReplicaSet{ObjectMeta: om("rs"), Spec: appsv1.ReplicaSetSpec{Replicas: ss("x"), Selector: deployment().Spec.Selector, Template: deployment().Spec.Template}},
		&appsv1.DaemonSet{ObjectMeta: om("ds"), Spec: appsv1.DaemonSetSpec{Selector: deployment().Spec.Selector, Template: deployment().Spec.Template}},
		service(),
		&corev1.Service{ObjectMeta: om("headless"), Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"a": "b"}}},
		&corev1.Service{ObjectMeta: om("ext"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com."}},
		&corev1.Service{ObjectMeta: om("np"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, NodePort: 30080}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1.example"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24",
			Taints: []corev1.Taint{{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute}}}},
		&corev1.ConfigMap{ObjectMeta: om("cfg"), Data: map[string]string{"app.conf": "x", "KEY_1": "y"}},
		&corev1.Secret{ObjectMeta: om("s"), Data: map[string][]byte{"password": []byte("x")}},
		&corev1.ServiceAccount{ObjectMeta: om("default")},
		&corev1.Endpoints{ObjectMeta: om("web"), Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}},
			Ports: []corev1.EndpointPort{{Port: 80}}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: om("web-x"), AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}}, Ports: []discoveryv1.EndpointPort{{Port: ss("")}}},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"}},
		&corev1.Event{ObjectMeta: om("web.17a"), Type: "Normal", InvolvedObject: corev1.ObjectReference{Namespace: "default", Name: "web"}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "1234"}, Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			Spec: func() corev1.PodSpec { s := podSpec(); s.RestartPolicy = corev1.RestartPolicyNever; return s }()}}},
	}
	for _, o := range objs {
		Default(o)
		checkErrors(t, fmt.Sprintf("%T", o), Validate(o))
	}
}

func TestNames(t *testing.T) {
	checkErrors(t, "service DNS-1035", Validate(&corev1.Service{ObjectMeta: om("1web"), Spec: service().Spec}), "metadata.name:FieldValueInvalid")
	checkErrors(t, "service dots", Validate(&corev1.Service{ObjectMeta: om("a.b"), Spec: service().Spec}), "metadata.name:FieldValueInvalid")
	checkErrors(t, "deployment subdomain ok", Validate(func() *appsv1.Deployment { d := deployment(); d.Name = "web.v2"; Default(d); return d }()))
	checkErrors(t, "deployment upper", Validate(func() *appsv1.Deployment { d := deployment(); d.Name = "Web"; return d }()), "metadata.name:FieldValueInvalid")
	checkErrors(t, "missing name", Validate(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}}), "metadata.name:FieldValueRequired")
	checkErrors(t, "namespace label", Validate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a.b"}}), "metadata.name:FieldValueInvalid")
	checkErrors(t, "missing namespace", Validate(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}), "metadata.namespace:FieldValueRequired")
	checkErrors(t, "bad namespace", Validate(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "Bad_NS"}}), "metadata.namespace:FieldValueInvalid")
	checkErrors(t, "namespace on cluster kind", Validate(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Namespace: "default"}}), "metadata.namespace:FieldValueForbidden")
	cm := &corev1.ConfigMap{ObjectMeta: om("x")}
	cm.Labels = map[string]string{"bad key!": "v", "ok": "bad value!"}
	cm.Annotations = map[string]string{"no/good/key": "x"}
	checkErrors(t, "labels", Validate(cm), "metadata.labels:FieldValueInvalid", "metadata.annotations:FieldValueInvalid")
}

func TestPodSpecRules(t *testing.T) {
	mk := func(mut func(s *corev1.PodSpec)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: om("p"), Spec: podSpec()}
		mut(&p.Spec)
		return p
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
		want []string
	}{
		{"no containers", mk(func(s *corev1.PodSpec) { s.Containers = nil }), []string{"spec.containers:FieldValueRequired"}},
		{"no image", mk(func(s *corev1.PodSpec) { s.Containers[0].Image = "" }), []string{"spec.containers[0].image:FieldValueRequired"}},
		{"no name", mk(func(s *corev1.PodSpec) { s.Containers[0].Name = "" }), []string{"spec.containers[0].name:FieldValueRequired"}},
		{"bad name", mk(func(s *corev1.PodSpec) { s.Containers[0].Name = "Web_1" }), []string{"spec.containers[0].name:FieldValueInvalid"}},
		{"duplicate name", mk(func(s *corev1.PodSpec) {
			s.Containers = append(s.Containers, corev1.Container{Name: "web", Image: "x"})
		}),
			[]string{"spec.containers[1].name:FieldValueDuplicate"}},
		{"port range", mk(func(s *corev1.PodSpec) { s.Containers[0].Ports[0].ContainerPort = 70000 }), []string{"spec.containers[0].ports[0].containerPort:FieldValueInvalid"}},
		{"protocol", mk(func(s *corev1.PodSpec) { s.Containers[0].Ports[0].Protocol = "ICMP" }), []string{"spec.containers[0].ports[0].protocol:FieldValueNotSupported"}},
		{"port name", mk(func(s *corev1.PodSpec) { s.Containers[0].Ports[0].Name = "this-name-is-too-long" }), []string{"spec.containers[0].ports[0].name:FieldValueInvalid"}},
		{"requests over limits", mk(func(s *corev1.PodSpec) {
			s.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}
		}), []string{"spec.containers[0].resources.requests[cpu]:FieldValueInvalid"}},
		{"negative quantity", mk(func(s *corev1.PodSpec) {
			s.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Gi")}
		}), []string{"spec.containers[0].resources.limits[memory]:FieldValueInvalid"}},
		{"unknown resource", mk(func(s *corev1.PodSpec) {
			s.Containers[0].Resources.Limits = corev1.ResourceList{"gpu": resource.MustParse("1")}
		}), []string{"spec.containers[0].resources.limits[gpu]:FieldValueInvalid"}},
		{"restart policy", mk(func(s *corev1.PodSpec) { s.RestartPolicy = "Sometimes" }), []string{"spec.restartPolicy:FieldValueNotSupported"}},
		{"pull policy", mk(func(s *corev1.PodSpec) { s.Containers[0].ImagePullPolicy = "Maybe" }), []string{"spec.containers[0].imagePullPolicy:FieldValueNotSupported"}},
		{"missing volume", mk(func(s *corev1.PodSpec) {
			s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}), []string{"spec.containers[0].volumeMounts[0].name:FieldValueNotFound"}},
		{"env name", mk(func(s *corev1.PodSpec) { s.Containers[0].Env = []corev1.EnvVar{{Name: "1=X"}} }), []string{"spec.containers[0].env[0].name:FieldValueInvalid"}},
		{"probe without handler", mk(func(s *corev1.PodSpec) { s.Containers[0].LivenessProbe = &corev1.Probe{} }),
			[]string{"spec.containers[0].livenessProbe:FieldValueRequired"}},
		{"toleration", mk(func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Equal", Effect: "Sometimes"}}
		}), []string{"spec.tolerations[0].effect:FieldValueNotSupported"}},
		{"node selector", mk(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"a": "b c"} }), []string{"spec.nodeSelector:FieldValueInvalid"}},
		{"host network port", mk(func(s *corev1.PodSpec) { s.HostNetwork = true; s.Containers[0].Ports[0].HostPort = 8080 }),
			[]string{"spec.containers[0].ports[0].hostPort:FieldValueInvalid"}},
	}
	for _, c := range cases {
		checkErrors(t, c.name, Validate(c.pod), c.want...)
	}
}

func TestDeploymentRules(t *testing.T) {
	mk := func(mut func(d *appsv1.Deployment)) *appsv1.Deployment {
		d := deployment()
		mut(d)
		Default(d)
		return d
	}
	cases := []struct {
		name string
		d    *appsv1.Deployment
		want []string
	}{
		{"no selector", mk(func(d *appsv1.Deployment) { d.Spec.Selector = nil }), []string{"spec.selector:FieldValueRequired"}},
		{"empty selector", mk(func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }), []string{"spec.selector:FieldValueInvalid"}},
		{"selector mismatch", mk(func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} }),
			[]string{"spec.template.metadata.labels:FieldValueInvalid"}},
		{"template image", mk(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }),
			[]string{"spec.template.spec.containers[0].image:FieldValueRequired"}},
		{"restart policy", mk(func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			[]string{"spec.template.spec.restartPolicy:FieldValueNotSupported"}},
		{"negative replicas", mk(func(d *appsv1.Deployment) { n := int32(-1); d.Spec.Replicas = &n }), []string{"spec.replicas:FieldValueInvalid"}},
		{"both zero", mk(func(d *appsv1.Deployment) {
			z := intstr.FromInt32(0)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &z, MaxUnavailable: &z}
		}), []string{"spec.strategy.rollingUpdate.maxUnavailable:FieldValueInvalid"}},
		{"percent", mk(func(d *appsv1.Deployment) {
			p := intstr.FromString("150%")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &p}
		}), []string{"spec.strategy.rollingUpdate.maxSurge:FieldValueInvalid"}},
		{"recreate with rolling", mk(func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}), []string{"spec.strategy.rollingUpdate:FieldValueForbidden"}},
	}
	for _, c := range cases {
		checkErrors(t, c.name, Validate(c.d), c.want...)
	}

	// kubectl shows the 422 as apierrors.NewInvalid renders it.
	d := mk(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" })
	err := apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, d.Name, Validate(d))
	if want := `Deployment.apps "web" is invalid: spec.template.spec.containers[0].image: Required value`; err.Error() != want {
		t.Errorf("error text = %q, want %q", err.Error(), want)
	}

	old := deployment()
	Default(old)
	upd := old.DeepCopy()
	upd.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
	upd.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}
	checkErrors(t, "selector immutable", ValidateUpdate(upd, old), "spec.selector:FieldValueInvalid")
	upd = old.DeepCopy()
	upd.Spec.Template.Spec.Containers[0].Image = "nginx:1.26"
	checkErrors(t, "image update ok", ValidateUpdate(upd, old))
	upd.Name = "other"
	checkErrors(t, "name immutable", ValidateUpdate(upd, old), "metadata.name:FieldValueInvalid")
}

func TestServiceRules(t *testing.T) {
	mk := func(mut func(s *corev1.Service)) *corev1.Service {
		s := service()
		mut(s)
		Default(s)
		return s
	}
	cases := []struct {
		name string
		s    *corev1.Service
		want []string
	}{
		{"no ports", mk(func(s *corev1.Service) { s.Spec.Ports = nil }), []string{"spec.ports:FieldValueRequired"}},
		{"port range", mk(func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }), []string{"spec.ports[0].port:FieldValueInvalid"}},
		{"protocol", mk(func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" }), []string{"spec.ports[0].protocol:FieldValueNotSupported"}},
		{"names required", mk(func(s *corev1.Service) { s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443}) }),
			[]string{"spec.ports[0].name:FieldValueRequired", "spec.ports[1].name:FieldValueRequired"}},
		{"duplicate port", mk(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80}}
		}), []string{"spec.ports[1]:FieldValueDuplicate"}},
		{"nodePort on ClusterIP", mk(func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }), []string{"spec.ports[0].nodePort:FieldValueForbidden"}},
		{"bad type", mk(func(s *corev1.Service) { s.Spec.Type = "Public" }), []string{"spec.type:FieldValueNotSupported"}},
		{"bad clusterIP", mk(func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.300" }), []string{"spec.clusterIP:FieldValueInvalid"}},
		{"None for NodePort", mk(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort; s.Spec.ClusterIP = "None" }),
			[]string{"spec.clusterIP:FieldValueInvalid"}},
		{"externalName missing", mk(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName }), []string{"spec.externalName:FieldValueRequired"}},
		{"target port name", mk(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("Not_Valid") }),
			[]string{"spec.ports[0].targetPort:FieldValueInvalid"}},
		{"selector", mk(func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} }), []string{"spec.selector:FieldValueInvalid"}},
		{"external policy on ClusterIP", mk(func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = "Local" }),
			[]string{"spec.externalTrafficPolicy:FieldValueInvalid"}},
	}
	for _, c := range cases {
		checkErrors(t, c.name, Validate(c.s), c.want...)
	}

	old := service()
	old.Spec.ClusterIP = "10.96.0.20"
	Default(old)
	upd := old.DeepCopy()
	upd.Spec.ClusterIP = "10.96.0.21"
	upd.Spec.ClusterIPs = []string{"10.96.0.21"}
	checkErrors(t, "clusterIP immutable", ValidateUpdate(upd, old), "spec.clusterIP:FieldValueInvalid")

	// A replace without clusterIP keeps the old one.
	upd = service()
	PrepareUpdate(upd, old)
	Default(upd)
	if upd.Spec.ClusterIP != "10.96.0.20" {
		t.Fatalf("PrepareUpdate clusterIP = %q", upd.Spec.ClusterIP)
	}
	checkErrors(t, "replace without clusterIP", ValidateUpdate(upd, old))

	oldNP := &corev1.Service{ObjectMeta: om("np"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.30",
		Ports: []corev1.ServicePort{{Port: 80, NodePort: 30123}}}}
	Default(oldNP)
	updNP := &corev1.Service{ObjectMeta: om("np"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}}}
	PrepareUpdate(updNP, oldNP)
	if updNP.Spec.Ports[0].NodePort != 30123 {
		t.Fatalf("PrepareUpdate nodePort = %d", updNP.Spec.Ports[0].NodePort)
	}
}

func TestOtherKindsRules(t *testing.T) {
	checkErrors(t, "replicaset mismatch", Validate(&appsv1.ReplicaSet{ObjectMeta: om("rs"), Spec: appsv1.ReplicaSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}, Template: deployment().Spec.Template}}),
		"spec.template.metadata.labels:FieldValueInvalid")
	checkErrors(t, "daemonset strategy", Validate(&appsv1.DaemonSet{ObjectMeta: om("ds"), Spec: appsv1.DaemonSetSpec{
		Selector: deployment().Spec.Selector, Template: deployment().Spec.Template, UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: "Fast"}}}),
		"spec.updateStrategy.type:FieldValueNotSupported")
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "default", UID: "u1", ResourceVersion: "3"}, Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: podSpec()}}}
	Default(job)
	checkErrors(t, "job restart Always", Validate(job), "spec.template.spec.restartPolicy:FieldValueNotSupported")
	job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	checkErrors(t, "job ok", Validate(job))
	upd := job.DeepCopy()
	upd.Spec.Template.Spec.Containers[0].Image = "other"
	checkErrors(t, "job template immutable", ValidateUpdate(upd, job), "spec.template:FieldValueInvalid")
	upd = job.DeepCopy()
	upd.Spec.Selector = nil
	upd.Spec.Template.Labels = nil
	PrepareUpdate(upd, job)
	checkErrors(t, "job replace keeps selector", ValidateUpdate(upd, job))

	checkErrors(t, "configmap key", Validate(&corev1.ConfigMap{ObjectMeta: om("c"), Data: map[string]string{"a/b": "x"}}), "data[a/b]:FieldValueInvalid")
	imm := true
	cmOld := &corev1.ConfigMap{ObjectMeta: om("c"), Immutable: &imm, Data: map[string]string{"a": "1"}}
	cmNew := cmOld.DeepCopy()
	cmNew.Data["a"] = "2"
	checkErrors(t, "immutable configmap", ValidateUpdate(cmNew, cmOld), "data:FieldValueForbidden")
	checkErrors(t, "tls secret", Validate(&corev1.Secret{ObjectMeta: om("t"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil}}),
		"data[tls.key]:FieldValueRequired")
	sOld := &corev1.Secret{ObjectMeta: om("s"), Type: corev1.SecretTypeOpaque}
	sNew := sOld.DeepCopy()
	sNew.Type = "kubernetes.io/tls"
	checkErrors(t, "secret type immutable", ValidateUpdate(sNew, sOld), "type:FieldValueInvalid")
	checkErrors(t, "node cidr", Validate(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{PodCIDR: "10.0.0.0/33"}}),
		"spec.podCIDR:FieldValueInvalid")
	nOld := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"}}
	nNew := nOld.DeepCopy()
	nNew.Spec.PodCIDR = "10.244.2.0/24"
	checkErrors(t, "node cidr immutable", ValidateUpdate(nNew, nOld), "spec.podCIDR:FieldValueForbidden")
	checkErrors(t, "endpoints ip", Validate(&corev1.Endpoints{ObjectMeta: om("e"), Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "nope"}}, Ports: []corev1.EndpointPort{{Port: 80, Protocol: "TCP"}}}}}),
		"subsets[0].addresses[0].ip:FieldValueInvalid")
	checkErrors(t, "slice family", Validate(&discoveryv1.EndpointSlice{ObjectMeta: om("s"), AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"fd00::1"}}}}), "endpoints[0].addresses[0]:FieldValueInvalid")
	bad := int32(0)
	checkErrors(t, "lease duration", Validate(&coordinationv1.Lease{ObjectMeta: om("l"), Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: &bad}}),
		"spec.leaseDurationSeconds:FieldValueInvalid")
	checkErrors(t, "event type", Validate(&corev1.Event{ObjectMeta: om("e"), Type: "Bad"}), "type:FieldValueNotSupported")
	checkErrors(t, "pod update", ValidateUpdate(
		&corev1.Pod{ObjectMeta: om("p"), Spec: func() corev1.PodSpec { s := podSpec(); s.Containers[0].Ports[0].ContainerPort = 81; return s }()},
		&corev1.Pod{ObjectMeta: om("p"), Spec: podSpec()}), "spec:FieldValueForbidden")
	oldPod := &corev1.Pod{ObjectMeta: om("p"), Spec: podSpec()}
	Default(oldPod)
	newPod := oldPod.DeepCopy()
	newPod.Spec.Containers[0].Image = "nginx:2"
	checkErrors(t, "pod image update", ValidateUpdate(newPod, oldPod))
	checkErrors(t, "type mismatch", ValidateUpdate(&corev1.Pod{ObjectMeta: om("p"), Spec: podSpec()}, &corev1.ConfigMap{}), "metadata:InternalError")
}

func TestPrepareUpdateKeepsServerMetadata(t *testing.T) {
	old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default", UID: "u-1", ResourceVersion: "12",
		CreationTimestamp: metav1.Now()}}
	put := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{"a": "b"}}
	checkErrors(t, "bare PUT", ValidateUpdate(put, old), "metadata.resourceVersion:FieldValueInvalid")
	PrepareUpdate(put, old)
	if put.UID != "u-1" || put.ResourceVersion != "12" || !put.CreationTimestamp.Equal(&old.CreationTimestamp) {
		t.Fatalf("PrepareUpdate metadata = %+v", put.ObjectMeta)
	}
	checkErrors(t, "prepared PUT", ValidateUpdate(put, old))
	stale := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default", ResourceVersion: "5"}}
	PrepareUpdate(stale, old)
	if stale.ResourceVersion != "5" {
		t.Fatal("PrepareUpdate overwrote the client's resourceVersion")
	}
	uid := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default", UID: "other"}}
	PrepareUpdate(uid, old)
	checkErrors(t, "uid change", ValidateUpdate(uid, old), "metadata.uid:FieldValueInvalid")
}
