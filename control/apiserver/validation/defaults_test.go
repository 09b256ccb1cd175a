package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPullPolicyFor(t *testing.T) {
	cases := map[string]corev1.PullPolicy{
		"nginx":                      corev1.PullAlways,
		"nginx:latest":               corev1.PullAlways,
		"nginx:1.25":                 corev1.PullIfNotPresent,
		"registry:5000/app":          corev1.PullAlways,
		"registry:5000/app:v1":       corev1.PullIfNotPresent,
		"app@sha256:abcdef":          corev1.PullIfNotPresent,
		"docker.io/library/busybox":  corev1.PullAlways,
		"localhost:5000/a/b:latest":  corev1.PullAlways,
		"localhost:5000/a/b:stable2": corev1.PullIfNotPresent,
	}
	for img, want := range cases {
		if got := PullPolicyFor(img); got != want {
			t.Errorf("PullPolicyFor(%q) = %s, want %s", img, got, want)
		}
	}
}

func TestPodDefaults(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: om("p"), Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "a", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			Resources:      corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
			Env:            []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}}}},
		Volumes: []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}},
	}}
	Default(p)
	s := p.Spec
	c := s.Containers[0]
	if s.RestartPolicy != corev1.RestartPolicyAlways || s.DNSPolicy != corev1.DNSClusterFirst || *s.TerminationGracePeriodSeconds != 30 ||
		s.SchedulerName != "default-scheduler" || s.SecurityContext == nil || !*s.EnableServiceLinks {
		t.Errorf("pod spec defaults: %+v", s)
	}
	if c.ImagePullPolicy != corev1.PullAlways || c.TerminationMessagePath != "/dev/termination-log" ||
		c.TerminationMessagePolicy != corev1.TerminationMessageReadFile || c.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("container defaults: %+v", c)
	}
	if q := c.Resources.Requests[corev1.ResourceCPU]; q.String() != "1" {
		t.Errorf("requests not defaulted from limits: %v", c.Resources.Requests)
	}
	if pr := c.ReadinessProbe; pr.TimeoutSeconds != 1 || pr.PeriodSeconds != 10 || pr.SuccessThreshold != 1 || pr.FailureThreshold != 3 ||
		pr.HTTPGet.Scheme != corev1.URISchemeHTTP || pr.HTTPGet.Path != "/" {
		t.Errorf("probe defaults: %+v", pr)
	}
	if c.Env[0].ValueFrom.FieldRef.APIVersion != "v1" {
		t.Error("fieldRef apiVersion not defaulted")
	}
	if *s.Volumes[0].ConfigMap.DefaultMode != 0o644 {
		t.Error("configMap defaultMode not 420")
	}
	if s.ServiceAccountName != "default" || *s.Priority != 0 || len(s.Tolerations) != 2 || *s.Tolerations[0].TolerationSeconds != 300 {
		t.Errorf("admission defaults: sa %q priority %v tolerations %+v", s.ServiceAccountName, s.Priority, s.Tolerations)
	}
	if p.Status.Phase != corev1.PodPending || p.Status.QOSClass != corev1.PodQOSBurstable {
		t.Errorf("status defaults: %+v", p.Status)
	}
	// Defaulting twice changes nothing.
	before := p.DeepCopy()
	Default(p)
	if len(p.Spec.Tolerations) != len(before.Spec.Tolerations) {
		t.Error("Default is not idempotent")
	}
}

func TestWorkloadDefaults(t *testing.T) {
	d := deployment()
	Default(d)
	ru := d.Spec.Strategy.RollingUpdate
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru.MaxSurge.String() != "25%" ||
		ru.MaxUnavailable.String() != "25%" || *d.Spec.RevisionHistoryLimit != 10 || *d.Spec.ProgressDeadlineSeconds != 600 {
		t.Errorf("deployment defaults: %+v", d.Spec)
	}
	if d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways || d.Spec.Template.Spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent {
		t.Error("deployment template not defaulted")
	}
	if d.Spec.Template.Spec.ServiceAccountName != "" || len(d.Spec.Template.Spec.Tolerations) != 0 {
		t.Error("admission defaults leaked into a template")
	}
	rec := deployment()
	rec.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	Default(rec)
	if rec.Spec.Strategy.RollingUpdate != nil {
		t.Error("Recreate got rollingUpdate")
	}

	rs := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: deployment().Spec.Template}}
	Default(rs)
	if *rs.Spec.Replicas != 1 {
		t.Error("replicaset replicas")
	}
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: deployment().Spec.Template}}
	Default(ds)
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.IntValue() != 1 ||
		*ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("daemonset defaults: %+v", ds.Spec.UpdateStrategy)
	}

	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "uid-1"}}
	Default(j)
	if *j.Spec.Completions != 1 || *j.Spec.Parallelism != 1 || *j.Spec.BackoffLimit != 6 || *j.Spec.CompletionMode != batchv1.NonIndexedCompletion ||
		*j.Spec.Suspend || j.Spec.Selector.MatchLabels[JobControllerUIDLabel] != "uid-1" || j.Spec.Template.Labels[JobNameLabel] != "pi" {
		t.Errorf("job defaults: %+v", j.Spec)
	}
	par := int32(3)
	j2 := &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: &par}}
	Default(j2)
	if j2.Spec.Completions != nil || *j2.Spec.Parallelism != 3 || j2.Spec.Selector != nil {
		t.Errorf("job with parallelism only: %+v", j2.Spec)
	}
}

func TestServiceDefaults(t *testing.T) {
	s := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}}}}
	Default(s)
	if s.Spec.Type != corev1.ServiceTypeClusterIP || s.Spec.SessionAffinity != corev1.ServiceAffinityNone ||
		s.Spec.Ports[0].Protocol != corev1.ProtocolTCP || s.Spec.Ports[0].TargetPort.IntValue() != 80 || s.Spec.Ports[1].TargetPort.StrVal != "dns" ||
		*s.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || s.Spec.IPFamilies[0] != corev1.IPv4Protocol ||
		*s.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster || s.Spec.ExternalTrafficPolicy != "" {
		t.Errorf("service defaults: %+v", s.Spec)
	}
	lb := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityClientIP}}
	Default(lb)
	if lb.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster || !*lb.Spec.AllocateLoadBalancerNodePorts ||
		*lb.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds != 10800 {
		t.Errorf("loadbalancer defaults: %+v", lb.Spec)
	}
	ext := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "x.example"}}
	Default(ext)
	if ext.Spec.IPFamilyPolicy != nil || ext.Spec.InternalTrafficPolicy != nil {
		t.Errorf("ExternalName got cluster defaults: %+v", ext.Spec)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}}
	Default(ns)
	if ns.Status.Phase != corev1.NamespaceActive || ns.Labels[NamespaceNameLabel] != "dev" {
		t.Errorf("namespace defaults: %+v", ns)
	}
	sec := &corev1.Secret{}
	Default(sec)
	if sec.Type != corev1.SecretTypeOpaque {
		t.Error("secret type")
	}
}
