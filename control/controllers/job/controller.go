package job

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiffnet/skiff/control/controllers/ctrlutil"
	"github.com/skiffnet/skiff/control/controllers/events"
	"github.com/skiffnet/skiff/control/controllers/replicaset"
)

var gvk = batchv1.SchemeGroupVersion.WithKind("Job")

// DefaultBackoffLimit applies when spec.backoffLimit is unset.
const DefaultBackoffLimit = 6

// BackoffBase and BackoffMax bound the delay before replacing failed pods:
// BackoffBase doubled per failure so far, at most BackoffMax, counted from
// the latest failure.
var (
	BackoffBase = 10 * time.Second
	BackoffMax  = 6 * time.Minute
)

// Controller runs Jobs.
type Controller struct {
	client    kubernetes.Interface
	jobLister batchlisters.JobLister
	pods      *ctrlutil.PodSource
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	exp       *ctrlutil.Expectations
	rec       record.EventRecorder
	clock     clock.Clock
}

// New builds the controller on factory's Job and Pod informers. rec may be nil.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, rec record.EventRecorder) *Controller {
	jInf := factory.Batch().V1().Jobs()
	pInf := factory.Core().V1().Pods()
	c := &Controller{
		client:    client,
		jobLister: jInf.Lister(),
		pods:      ctrlutil.NewPodSource(pInf.Informer()),
		synced:    []cache.InformerSynced{jInf.Informer().HasSynced, pInf.Informer().HasSynced},
		queue:     ctrlutil.NewQueue("job"),
		exp:       ctrlutil.NewExpectations(),
		rec:       events.OrDiscard(rec),
		clock:     clock.RealClock{},
	}
	jInf.Informer().AddEventHandler(ctrlutil.OwnerHandler(c.queue, c.exp))
	pInf.Informer().AddEventHandler(ctrlutil.OwnedPodHandler("Job", c.queue, c.exp, nil))
	return c
}

// SetClock replaces the clock used for startTime and deadlines (tests).
func (c *Controller) SetClock(cl clock.Clock) { c.clock = cl }

// Run processes Jobs with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	ctrlutil.Run(ctx, "job", workers, c.queue, c.sync, c.synced...)
}

func finished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func selector(j *batchv1.Job) (labels.Selector, error) {
	if j.Spec.Selector == nil {
		return labels.SelectorFromSet(labels.Set{batchv1.ControllerUidLabel: string(j.UID)}), nil
	}
	return metav1.LabelSelectorAsSelector(j.Spec.Selector)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	if finished(cached) || cached.DeletionTimestamp != nil {
		return nil
	}
	j := cached.DeepCopy()
	sel, err := selector(j)
	if err != nil {
		c.rec.Eventf(j, corev1.EventTypeWarning, "InvalidSelector", "Invalid selector: %v; fix spec.selector", err)
		return nil
	}
	all, err := c.pods.Candidates(ns, j.UID)
	if err != nil {
		return err
	}
	pods, err := ctrlutil.Claim(ctx, j, ctrlutil.NewControllerRef(j, gvk), sel, all, false,
		func(ctx context.Context, n string, pt types.PatchType, data []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, n, pt, data, metav1.PatchOptions{})
			return err
		})
	if err != nil {
		return err
	}
	var active []*corev1.Pod
	var succeeded, failed, ready, restarts int32
	for _, p := range pods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			succeeded++
		case p.Status.Phase == corev1.PodFailed:
			failed++
		case p.DeletionTimestamp == nil:
			active = append(active, p)
			if ctrlutil.IsPodReady(p) {
				ready++
			}
			for _, cs := range p.Status.ContainerStatuses {
				restarts += cs.RestartCount
			}
			for _, cs := range p.Status.InitContainerStatuses {
				restarts += cs.RestartCount
			}
		}
	}
	succeeded = max(succeeded, j.Status.Succeeded)
	failed = max(failed, j.Status.Failed)
	now := metav1.NewTime(c.clock.Now())
	st := j.Status.DeepCopy()
	if st.StartTime == nil {
		st.StartTime = &now
	}
	backoff := int32(DefaultBackoffLimit)
	if j.Spec.BackoffLimit != nil {
		backoff = *j.Spec.BackoffLimit
	}
	var failReason, failMsg string
	switch {
	case failed > backoff || (j.Spec.Template.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && restarts > 0 && failed+restarts > backoff):
		failReason, failMsg = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
	case j.Spec.ActiveDeadlineSeconds != nil &&
		!st.StartTime.Add(time.Duration(*j.Spec.ActiveDeadlineSeconds)*time.Second).After(now.Time):
		failReason, failMsg = "DeadlineExceeded", "Job was active longer than specified deadline"
	}
	var manageErr error
	completions := j.Spec.Completions
	complete := false
	switch {
	case failReason != "":
		manageErr = c.deletePods(ctx, key, j, active, len(active))
		active = nil
		setCondition(st, batchv1.JobFailureTarget, failReason, failMsg, now)
		setCondition(st, batchv1.JobFailed, failReason, failMsg, now)
		c.rec.Event(j, corev1.EventTypeWarning, failReason, failMsg)
	case completions != nil && succeeded >= *completions, completions == nil && succeeded > 0 && len(active) == 0:
		complete = true
		manageErr = c.deletePods(ctx, key, j, active, len(active))
		active = nil
	default:
		if j.Spec.ActiveDeadlineSeconds != nil {
			left := st.StartTime.Add(time.Duration(*j.Spec.ActiveDeadlineSeconds) * time.Second).Sub(now.Time)
			c.queue.AddAfter(key, left)
		}
		if c.exp.Satisfied(key) {
			want := wantActive(j, succeeded)
			if n := int32(len(active)); n < want {
				if wait := c.backoffLeft(pods, failed, now.Time); wait > 0 {
					c.queue.AddAfter(key, wait)
				} else {
					manageErr = c.createPods(ctx, key, j, int(want-n))
				}
			} else if n > want {
				manageErr = c.deletePods(ctx, key, j, active, int(n-want))
			}
		}
	}
	st.Active = int32(len(active))
	if complete {
		st.Active = 0
	}
	st.Ready = &ready
	st.Succeeded, st.Failed = succeeded, failed
	if complete {
		st.CompletionTime = &now
		setCondition(st, batchv1.JobSuccessCriteriaMet, "CompletionsReached", "Reached expected number of succeeded pods", now)
		setCondition(st, batchv1.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods", now)
		c.rec.Event(j, corev1.EventTypeNormal, "Completed", "Job completed")
	}
	if j.Spec.Suspend != nil && *j.Spec.Suspend {
		setCondition(st, batchv1.JobSuspended, "JobSuspended", "Job suspended", now)
	} else {
		removeCondition(st, batchv1.JobSuspended)
	}
	if !apiequality.Semantic.DeepEqual(&j.Status, st) {
		j.Status = *st
		if _, err := c.client.BatchV1().Jobs(ns).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update status of job %s: %w", key, err)
		}
	}
	return manageErr
}

func wantActive(j *batchv1.Job, succeeded int32) int32 {
	if j.Spec.Suspend != nil && *j.Spec.Suspend {
		return 0
	}
	par := int32(1)
	if j.Spec.Parallelism != nil {
		par = *j.Spec.Parallelism
	}
	if j.Spec.Completions == nil {
		if succeeded > 0 {
			return 0 // work-queue job: let the running pods finish
		}
		return par
	}
	return max(0, min(par, *j.Spec.Completions-succeeded))
}

func (c *Controller) createPods(ctx context.Context, key string, j *batchv1.Job, n int) error {
	n = min(n, replicaset.BurstReplicas)
	c.exp.Expect(key, n, nil)
	tpl := j.Spec.Template.DeepCopy()
	if tpl.Labels == nil {
		tpl.Labels = map[string]string{}
	}
	uid := string(j.UID)
	tpl.Labels[batchv1.ControllerUidLabel] = uid
	tpl.Labels["controller-uid"] = uid
	tpl.Labels[batchv1.JobNameLabel] = j.Name
	tpl.Labels["job-name"] = j.Name
	ref := ctrlutil.NewControllerRef(j, gvk)
	done, err := ctrlutil.SlowStart(n, func() error {
		out, err := ctrlutil.CreatePod(ctx, c.client, ctrlutil.PodFromTemplate(tpl, j.Namespace, j.Name, ref))
		if err != nil {
			c.exp.CreationObserved(key)
			c.rec.Eventf(j, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			return err
		}
		c.rec.Eventf(j, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", out.Name)
		return nil
	})
	for i := done; i < n; i++ {
		c.exp.CreationObserved(key)
	}
	return err
}

func (c *Controller) deletePods(ctx context.Context, key string, j *batchv1.Job, active []*corev1.Pod, n int) error {
	if n == 0 {
		return nil
	}
	victims := replicaset.PodsToDelete(active, n)
	keys := make([]string, len(victims))
	for i, p := range victims {
		keys[i] = p.Namespace + "/" + p.Name
	}
	c.exp.Expect(key, 0, keys)
	var first error
	for _, p := range victims {
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		if err != nil {
			c.exp.DeletionObserved(key, p.Namespace+"/"+p.Name)
			if !apierrors.IsNotFound(err) && first == nil {
				first = fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
			}
			continue
		}
		c.rec.Eventf(j, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
	}
	return first
}

func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, reason, msg string, now metav1.Time) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			if st.Conditions[i].Status != corev1.ConditionTrue {
				st.Conditions[i].LastTransitionTime = now
			}
			st.Conditions[i].Status, st.Conditions[i].Reason, st.Conditions[i].Message = corev1.ConditionTrue, reason, msg
			st.Conditions[i].LastProbeTime = now
			return
		}
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason,
		Message: msg, LastProbeTime: now, LastTransitionTime: now})
}

func removeCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) {
	var out []batchv1.JobCondition
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

// backoffLeft is how long to wait before creating pods again after failures.
func (c *Controller) backoffLeft(pods []*corev1.Pod, failed int32, now time.Time) time.Duration {
	if failed == 0 {
		return 0
	}
	var last time.Time
	for _, p := range pods {
		if p.Status.Phase != corev1.PodFailed {
			continue
		}
		t := p.CreationTimestamp.Time
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Terminated != nil && cs.State.Terminated.FinishedAt.After(t) {
				t = cs.State.Terminated.FinishedAt.Time
			}
		}
		if t.After(last) {
			last = t
		}
	}
	if last.IsZero() {
		return 0
	}
	delay := BackoffBase
	for i := int32(1); i < failed && delay < BackoffMax; i++ {
		delay *= 2
	}
	delay = min(delay, BackoffMax)
	return last.Add(delay).Sub(now)
}
