package job

import (
	"context"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/control/controllers/ctrltest"
)

const ns = "jobs"

// start runs the controller and a fake kubelet that ends every pod with
// outcome once it has seen it running for one round.
func start(t *testing.T, outcome corev1.PodPhase, maxActive *atomic.Int32) *fake.Clientset {
	client := ctrltest.NewClient()
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	go c.Run(ctx, 2)
	go func() {
		for ctx.Err() == nil {
			l, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				var running int32
				for _, p := range l.Items {
					switch p.Status.Phase {
					case "", corev1.PodPending:
						running++
						p.Status.Phase = corev1.PodRunning
					case corev1.PodRunning:
						running++
						p.Status.Phase = outcome
					default:
						continue
					}
					_, _ = client.CoreV1().Pods(ns).UpdateStatus(ctx, &p, metav1.UpdateOptions{})
				}
				if maxActive != nil && running > maxActive.Load() {
					maxActive.Store(running)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return client
}

func newJob(name string, completions, parallelism, backoff int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batchv1.JobSpec{
			Completions: &completions, Parallelism: &parallelism, BackoffLimit: &backoff,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
		},
	}
}

func hasCond(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func TestRunsToCompletion(t *testing.T) {
	var maxActive atomic.Int32
	client := start(t, corev1.PodSucceeded, &maxActive)
	ctx := context.Background()
	if _, err := client.BatchV1().Jobs(ns).Create(ctx, newJob("pi", 4, 2, 6), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		j, _ := client.BatchV1().Jobs(ns).Get(ctx, "pi", metav1.GetOptions{})
		return hasCond(j, batchv1.JobComplete)
	}, "job Complete")
	j, _ := client.BatchV1().Jobs(ns).Get(ctx, "pi", metav1.GetOptions{})
	if j.Status.Succeeded != 4 || j.Status.Active != 0 || j.Status.Failed != 0 || j.Status.CompletionTime == nil || j.Status.StartTime == nil {
		t.Fatalf("status %+v", j.Status)
	}
	if m := maxActive.Load(); m > 2 {
		t.Errorf("%d pods active at once; parallelism is 2", m)
	}
	time.Sleep(100 * time.Millisecond)
	l, _ := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if len(l.Items) != 4 {
		t.Fatalf("%d pods created, want 4", len(l.Items))
	}
	for _, p := range l.Items {
		if p.Labels["job-name"] != "pi" || p.Labels[batchv1.ControllerUidLabel] != string(j.UID) || p.OwnerReferences[0].UID != j.UID {
			t.Fatalf("pod %s labels %v owners %v", p.Name, p.Labels, p.OwnerReferences)
		}
	}
}

func TestBackoffLimit(t *testing.T) {
	BackoffBase = 50 * time.Millisecond
	defer func() { BackoffBase = 10 * time.Second }()
	client := start(t, corev1.PodFailed, nil)
	ctx := context.Background()
	if _, err := client.BatchV1().Jobs(ns).Create(ctx, newJob("bad", 1, 1, 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 10*time.Second, func() bool {
		j, _ := client.BatchV1().Jobs(ns).Get(ctx, "bad", metav1.GetOptions{})
		return hasCond(j, batchv1.JobFailed)
	}, "job Failed")
	j, _ := client.BatchV1().Jobs(ns).Get(ctx, "bad", metav1.GetOptions{})
	if j.Status.Failed != 3 || j.Status.Succeeded != 0 {
		t.Fatalf("failed %d succeeded %d; backoffLimit 2 allows 3 attempts", j.Status.Failed, j.Status.Succeeded)
	}
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Reason != "BackoffLimitExceeded" {
			t.Fatalf("reason %s", c.Reason)
		}
	}
	time.Sleep(100 * time.Millisecond)
	l, _ := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	// Replacements waited out the backoff: 50ms after the first failure, 100ms after the second.
	var created []time.Time
	for _, p := range l.Items {
		created = append(created, p.CreationTimestamp.Time)
	}
	sort.Slice(created, func(i, j int) bool { return created[i].Before(created[j]) })
	if len(created) == 3 && created[2].Sub(created[0]) < 150*time.Millisecond {
		t.Errorf("pods recreated without backoff: %v", created)
	}
	if len(l.Items) != 3 {
		t.Fatalf("%d pods after failure, want 3", len(l.Items))
	}
}
