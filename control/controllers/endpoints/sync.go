package endpoints

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/cache"
)

// expectation records slice writes not yet seen in the informer cache, so a
// quick second sync does not create duplicates from a stale view.
type expectation struct {
	writes map[string]*discoveryv1.EndpointSlice // nil value = deleted
	at     time.Time
}

const expectationTTL = 10 * time.Second

func (c *Controller) expectationsMet(key string) bool {
	c.expectMu.Lock()
	defer c.expectMu.Unlock()
	exp := c.expectations[key]
	if exp == nil {
		return true
	}
	if time.Since(exp.at) > expectationTTL {
		delete(c.expectations, key)
		return true
	}
	for name, want := range exp.writes {
		ns, _, _ := cache.SplitMetaNamespaceKey(key)
		obj, exists, _ := c.slices.GetByKey(ns + "/" + name)
		if want == nil {
			if exists {
				return false
			}
			continue
		}
		got, ok := obj.(*discoveryv1.EndpointSlice)
		if !exists || !ok || !(caughtUp(got.ResourceVersion, want.ResourceVersion) || sameSlice(got, want)) {
			return false
		}
	}
	delete(c.expectations, key)
	return true
}

// caughtUp reports whether the cached resourceVersion is at least the one
// our write returned. Skiff's (and etcd-backed Kubernetes') versions are
// revisions; anything else compares by equality only.
func caughtUp(cached, written string) bool {
	if cached == "" || written == "" {
		return false
	}
	if cached == written {
		return true
	}
	a, errA := strconv.ParseUint(cached, 10, 64)
	b, errB := strconv.ParseUint(written, 10, 64)
	return errA == nil && errB == nil && a >= b
}

func (c *Controller) expect(key string, writes map[string]*discoveryv1.EndpointSlice) {
	if len(writes) == 0 {
		return
	}
	c.expectMu.Lock()
	defer c.expectMu.Unlock()
	c.expectations[key] = &expectation{writes: writes, at: time.Now()}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	if !c.expectationsMet(key) {
		c.queue.AddAfter(key, 50*time.Millisecond)
		return nil
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// Slices are also owned by the Service (garbage collection), but
		// do not wait for it.
		if err := c.deleteManagedEndpoints(ctx, ns, name); err != nil {
			return err
		}
		return c.reconcileSlices(ctx, key, nil, ControllerName, nil, MirrorControllerName)
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		if err := c.deleteManagedEndpoints(ctx, ns, name); err != nil {
			return err
		}
		return c.reconcileSlices(ctx, key, svc, ControllerName, nil, MirrorControllerName)
	}
	if len(svc.Spec.Selector) == 0 {
		return c.syncMirror(ctx, key, svc)
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	groups := groupPods(svc, pods)
	if err := c.writeEndpoints(ctx, svc, subsetsFor(svc, groups)); err != nil {
		return err
	}
	return c.reconcileSlices(ctx, key, svc, ControllerName, slicesFor(svc, groups, c.zoneOf), MirrorControllerName)
}

// syncMirror handles a selectorless Service: user Endpoints → slices.
func (c *Controller) syncMirror(ctx context.Context, key string, svc *v1.Service) error {
	var desired []sliceContent
	ep, err := c.endpoints.Endpoints(svc.Namespace).Get(svc.Name)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return err
	case ep.Labels[EndpointsManagedByLabel] == EndpointsControllerName:
		// Written by us while the Service still had a selector: stale now.
		if err := c.deleteManagedEndpoints(ctx, svc.Namespace, svc.Name); err != nil {
			return err
		}
	case ep.Labels[discoveryv1.LabelSkipMirror] == "true":
	default:
		desired = mirrorSlices(ep)
	}
	return c.reconcileSlices(ctx, key, svc, MirrorControllerName, desired, ControllerName)
}

func (c *Controller) deleteManagedEndpoints(ctx context.Context, ns, name string) error {
	ep, err := c.endpoints.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || ep.Labels[EndpointsManagedByLabel] != EndpointsControllerName {
		return err
	}
	err = c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ep.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete endpoints %s/%s: %w", ns, name, err)
	}
	return nil
}

func endpointsLabels(svc *v1.Service) map[string]string {
	l := maps.Clone(svc.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[EndpointsManagedByLabel] = EndpointsControllerName
	l[discoveryv1.LabelSkipMirror] = "true"
	if svc.Spec.ClusterIP == v1.ClusterIPNone {
		l[headlessLabel] = ""
	} else {
		delete(l, headlessLabel)
	}
	return l
}

func (c *Controller) writeEndpoints(ctx context.Context, svc *v1.Service, subsets []v1.EndpointSubset) error {
	want := endpointsLabels(svc)
	cur, err := c.endpoints.Endpoints(svc.Namespace).Get(svc.Name)
	if apierrors.IsNotFound(err) {
		ep := &v1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: want},
			Subsets:    subsets,
		}
		_, err := c.client.CoreV1().Endpoints(svc.Namespace).Create(ctx, ep, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create endpoints %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		return err
	}
	if err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(cur.Subsets, subsets) && equality.Semantic.DeepEqual(cur.Labels, want) {
		return nil
	}
	ep := cur.DeepCopy()
	ep.Labels = want
	ep.Subsets = subsets
	if _, err := c.client.CoreV1().Endpoints(svc.Namespace).Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update endpoints %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}

func sliceLabels(svc *v1.Service, managedBy string) map[string]string {
	l := maps.Clone(svc.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = managedBy
	if svc.Spec.ClusterIP == v1.ClusterIPNone {
		l[headlessLabel] = ""
	} else {
		delete(l, headlessLabel)
	}
	return l
}

func ownerRef(svc *v1.Service) []metav1.OwnerReference {
	t := true
	return []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
		Controller: &t, BlockOwnerDeletion: &t,
	}}
}

func sameSlice(a, b *discoveryv1.EndpointSlice) bool {
	return a.AddressType == b.AddressType &&
		equality.Semantic.DeepEqual(a.Labels, b.Labels) &&
		equality.Semantic.DeepEqual(a.OwnerReferences, b.OwnerReferences) &&
		equality.Semantic.DeepEqual(a.Ports, b.Ports) &&
		equality.Semantic.DeepEqual(a.Endpoints, b.Endpoints)
}

// reconcileSlices makes the slices labelled managed-by=managedBy for the
// service match desired, reusing existing slices where it can, and deletes
// any slices of the other manager (svc nil: delete all).
func (c *Controller) reconcileSlices(ctx context.Context, key string, svc *v1.Service, managedBy string, desired []sliceContent, otherManager string) error {
	objs, err := c.slices.ByIndex(serviceIndex, key)
	if err != nil {
		return err
	}
	var existing []*discoveryv1.EndpointSlice
	var stale []*discoveryv1.EndpointSlice
	for _, o := range objs {
		s := o.(*discoveryv1.EndpointSlice)
		switch s.Labels[discoveryv1.LabelManagedBy] {
		case managedBy:
			existing = append(existing, s)
		case otherManager:
			stale = append(stale, s)
		}
	}
	sort.Slice(existing, func(i, j int) bool { return existing[i].Name < existing[j].Name })
	ns, svcName, _ := cache.SplitMetaNamespaceKey(key)
	writes := map[string]*discoveryv1.EndpointSlice{}
	defer func() { c.expect(key, writes) }()

	var want []*discoveryv1.EndpointSlice
	if svc != nil {
		for _, d := range desired {
			want = append(want, &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{
					Namespace:       ns,
					Labels:          sliceLabels(svc, managedBy),
					OwnerReferences: ownerRef(svc),
				},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       d.ports,
				Endpoints:   d.endpoints,
			})
		}
	} else {
		stale = append(stale, existing...)
		existing = nil
	}
	// Keep slices that already match exactly.
	used := make([]bool, len(existing))
	var todo []*discoveryv1.EndpointSlice
	for _, w := range want {
		matched := false
		for i, e := range existing {
			if !used[i] && sameSlice(e, w) {
				used[i], matched = true, true
				break
			}
		}
		if !matched {
			todo = append(todo, w)
		}
	}
	var reusable []*discoveryv1.EndpointSlice
	for i, e := range existing {
		if !used[i] {
			reusable = append(reusable, e)
		}
	}
	client := c.client.DiscoveryV1().EndpointSlices(ns)
	for _, w := range todo {
		if len(reusable) > 0 {
			cur := reusable[0]
			reusable = reusable[1:]
			upd := cur.DeepCopy()
			upd.Labels, upd.OwnerReferences = w.Labels, w.OwnerReferences
			upd.AddressType, upd.Ports, upd.Endpoints = w.AddressType, w.Ports, w.Endpoints
			out, err := client.Update(ctx, upd, metav1.UpdateOptions{})
			if err != nil {
				return fmt.Errorf("update endpointslice %s/%s: %w", ns, cur.Name, err)
			}
			writes[upd.Name] = withVersion(upd, out)
			continue
		}
		w.Name = sliceName(svcName)
		out, err := client.Create(ctx, w, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create endpointslice for service %s: %w", key, err)
		}
		writes[w.Name] = withVersion(w, out)
	}
	for _, s := range append(reusable, stale...) {
		err := client.Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete endpointslice %s/%s: %w", ns, s.Name, err)
		}
		writes[s.Name] = nil
	}
	return nil
}

// withVersion is what we wrote, stamped with the version the server
// returned (the fake clientset returns none).
func withVersion(sent, got *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	if got != nil {
		sent.ResourceVersion = got.ResourceVersion
	}
	return sent
}

// sliceName picks a fresh name the way generateName would, done here so the
// name is known before the write (for expectations).
func sliceName(svc string) string {
	prefix := svc
	if len(prefix) > 57 {
		prefix = prefix[:57]
	}
	return prefix + "-" + utilrand.String(5)
}
