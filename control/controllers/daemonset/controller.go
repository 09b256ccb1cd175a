package daemonset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/skiffnet/skiff/control/controllers/ctrlutil"
	"github.com/skiffnet/skiff/control/controllers/deployment"
	"github.com/skiffnet/skiff/control/controllers/events"
)

// HashLabel carries the template hash on DaemonSet pods.
const HashLabel = appsv1.DefaultDaemonSetUniqueLabelKey

var gvk = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller keeps one pod per eligible node.
type Controller struct {
	client     kubernetes.Interface
	dsLister   appslisters.DaemonSetLister
	nodeLister corelisters.NodeLister
	pods       *ctrlutil.PodSource
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	exp        *ctrlutil.Expectations
	rec        record.EventRecorder
	clock      clock.Clock
}

// New builds the controller on factory's DaemonSet, Node and Pod informers.
// rec may be nil.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, rec record.EventRecorder) *Controller {
	dsInf := factory.Apps().V1().DaemonSets()
	nInf := factory.Core().V1().Nodes()
	pInf := factory.Core().V1().Pods()
	c := &Controller{
		client:     client,
		dsLister:   dsInf.Lister(),
		nodeLister: nInf.Lister(),
		pods:       ctrlutil.NewPodSource(pInf.Informer()),
		synced:     []cache.InformerSynced{dsInf.Informer().HasSynced, nInf.Informer().HasSynced, pInf.Informer().HasSynced},
		queue:      ctrlutil.NewQueue("daemonset"),
		exp:        ctrlutil.NewExpectations(),
		rec:        events.OrDiscard(rec),
		clock:      clock.RealClock{},
	}
	dsInf.Informer().AddEventHandler(ctrlutil.OwnerHandler(c.queue, c.exp))
	all := func(any) { c.enqueueAll() }
	nInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: all, UpdateFunc: func(o, n any) {
			on, nn := o.(*corev1.Node), n.(*corev1.Node)
			if !labels.Equals(on.Labels, nn.Labels) || !apiequality.Semantic.DeepEqual(on.Spec.Taints, nn.Spec.Taints) {
				c.enqueueAll()
			}
		}, DeleteFunc: all,
	})
	pInf.Informer().AddEventHandler(ctrlutil.OwnedPodHandler("DaemonSet", c.queue, c.exp, c.podUpdated))
	return c
}

// SetClock replaces the clock used for minReadySeconds (tests).
func (c *Controller) SetClock(cl clock.Clock) { c.clock = cl }

// Run processes DaemonSets with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	ctrlutil.Run(ctx, "daemonset", workers, c.queue, c.sync, c.synced...)
}

func (c *Controller) enqueueAll() {
	list, _ := c.dsLister.List(labels.Everything())
	for _, ds := range list {
		c.queue.Add(ds.Namespace + "/" + ds.Name)
	}
}

// podUpdated requeues a DaemonSet with minReadySeconds when that much time
// after one of its pods turned Ready, to count it available then.
func (c *Controller) podUpdated(key string, old, cur *corev1.Pod) {
	ds, err := c.dsLister.DaemonSets(cur.Namespace).Get(ctrlutil.ControllerOf(cur).Name)
	if err == nil && ds.Spec.MinReadySeconds > 0 && !ctrlutil.IsPodReady(old) && ctrlutil.IsPodReady(cur) {
		c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		c.rec.Eventf(ds, corev1.EventTypeWarning, "InvalidSelector", "Invalid or empty selector; set spec.selector")
		return nil
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	all, err := c.pods.Candidates(ns, ds.UID)
	if err != nil {
		return err
	}
	pods, claimErr := ctrlutil.Claim(ctx, ds, ctrlutil.NewControllerRef(ds, gvk), sel, all, ds.DeletionTimestamp != nil,
		func(ctx context.Context, n string, pt types.PatchType, data []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, n, pt, data, metav1.PatchOptions{})
			return err
		})
	hash := deployment.ComputeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
		}
	}
	var errs []error
	if ds.DeletionTimestamp == nil && c.exp.Satisfied(key) {
		create, del := c.plan(ds, nodes, byNode, hash)
		if err := c.apply(ctx, key, ds, hash, create, del); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.updateStatus(ctx, ds, nodes, byNode, hash); err != nil {
		errs = append(errs, err)
	}
	if claimErr != nil {
		errs = append(errs, claimErr)
	}
	return errors.Join(errs...)
}

// plan decides which nodes need a pod and which pods must go.
func (c *Controller) plan(ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) ([]string, []*corev1.Pod) {
	var create []string
	var del []*corev1.Pod
	known := map[string]bool{}
	now := c.clock.Now()
	unavailable := 0
	var oldAvailable, oldUnavailable []*corev1.Pod
	for _, n := range nodes {
		known[n.Name] = true
		here := byNode[n.Name]
		if !ShouldRun(n, &ds.Spec.Template.Spec) {
			del = append(del, here...)
			continue
		}
		var live []*corev1.Pod
		for _, p := range here {
			if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				del = append(del, p) // a daemon must keep running: replace it
				continue
			}
			live = append(live, p)
		}
		if len(live) == 0 {
			create = append(create, n.Name)
			unavailable++
			continue
		}
		sort.SliceStable(live, func(i, j int) bool { return live[i].CreationTimestamp.Before(&live[j].CreationTimestamp) })
		del = append(del, live[1:]...)
		p := live[0]
		ok, _ := ctrlutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now)
		if !ok {
			unavailable++
		}
		if p.Labels[HashLabel] != hash {
			if ok {
				oldAvailable = append(oldAvailable, p)
			} else {
				oldUnavailable = append(oldUnavailable, p)
			}
		}
	}
	for node, ps := range byNode {
		if !known[node] {
			del = append(del, ps...) // node gone, or pod never bound
		}
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
		// Old pods that are down anyway go at once; healthy ones within maxUnavailable.
		del = append(del, oldUnavailable...)
		budget := maxUnavailable(ds, len(nodes)) - unavailable
		for i := 0; i < budget && i < len(oldAvailable); i++ {
			del = append(del, oldAvailable[i])
		}
	}
	return create, del
}

func maxUnavailable(ds *appsv1.DaemonSet, nodes int) int {
	mu := intstr.FromInt32(1)
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		mu = *ru.MaxUnavailable
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&mu, nodes, true)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func (c *Controller) apply(ctx context.Context, key string, ds *appsv1.DaemonSet, hash string, create []string, del []*corev1.Pod) error {
	delKeys := make([]string, len(del))
	for i, p := range del {
		delKeys[i] = p.Namespace + "/" + p.Name
	}
	c.exp.Expect(key, len(create), delKeys)
	var errs []error
	tpl := ds.Spec.Template.DeepCopy()
	if tpl.Labels == nil {
		tpl.Labels = map[string]string{}
	}
	tpl.Labels[HashLabel] = hash
	tpl.Labels["pod-template-generation"] = fmt.Sprint(ds.Generation)
	tpl.Spec.Tolerations = withDefaultTolerations(&tpl.Spec)
	ref := ctrlutil.NewControllerRef(ds, gvk)
	for _, node := range create {
		pod := ctrlutil.PodFromTemplate(tpl, ds.Namespace, ds.Name, ref)
		pod.Spec.NodeName = node
		out, err := ctrlutil.CreatePod(ctx, c.client, pod)
		if err != nil {
			c.exp.CreationObserved(key)
			c.rec.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			errs = append(errs, err)
			continue
		}
		c.rec.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", out.Name)
	}
	for _, p := range del {
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		if err != nil {
			c.exp.DeletionObserved(key, p.Namespace+"/"+p.Name)
			if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
			}
			continue
		}
		c.rec.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
	}
	return errors.Join(errs...)
}

func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) error {
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount, Conditions: ds.Status.Conditions}
	now := c.clock.Now()
	var wait time.Duration
	for _, n := range nodes {
		should := ShouldRun(n, &ds.Spec.Template.Spec)
		var p *corev1.Pod
		for _, x := range byNode[n.Name] {
			if x.Status.Phase != corev1.PodFailed && x.Status.Phase != corev1.PodSucceeded {
				p = x
				break
			}
		}
		if should {
			st.DesiredNumberScheduled++
		}
		if p == nil {
			continue
		}
		if !should {
			st.NumberMisscheduled++
			continue
		}
		st.CurrentNumberScheduled++
		if p.Labels[HashLabel] == hash {
			st.UpdatedNumberScheduled++
		}
		if ctrlutil.IsPodReady(p) {
			st.NumberReady++
			ok, d := ctrlutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now)
			if ok {
				st.NumberAvailable++
			} else if d > 0 && (wait == 0 || d < wait) {
				wait = d
			}
		}
	}
	st.NumberUnavailable = max(0, st.DesiredNumberScheduled-st.NumberAvailable)
	if wait > 0 {
		c.queue.AddAfter(ds.Namespace+"/"+ds.Name, wait)
	}
	if apiequality.Semantic.DeepEqual(ds.Status, st) {
		return nil
	}
	cp := ds.DeepCopy()
	cp.Status = st
	_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}
