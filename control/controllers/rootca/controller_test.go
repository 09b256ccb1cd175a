package rootca

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/skiffnet/skiff/control/controllers/ctrltest"
)

const caPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func TestPublishesAndRepairsRootCA(t *testing.T) {
	client := ctrltest.NewClient(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pre"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}})
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f, []byte(caPEM))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	go c.Run(ctx, 1)
	cms := func(ns string) *corev1.ConfigMap {
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, ConfigMapName, metav1.GetOptions{})
		if err != nil {
			return nil
		}
		return cm
	}
	good := func(ns string) func() bool {
		return func() bool {
			cm := cms(ns)
			return cm != nil && len(cm.Data) == 1 && cm.Data[DataKey] == caPEM && len(cm.BinaryData) == 0
		}
	}
	ctrltest.Eventually(t, 5*time.Second, good("pre"), "CA in an existing namespace")
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, good("new"), "CA in a new namespace")

	if err := client.CoreV1().ConfigMaps("new").Delete(ctx, ConfigMapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, good("new"), "deleted ConfigMap recreated")

	cm := cms("new")
	cm.Data = map[string]string{DataKey: "forged", "extra": "x"}
	cm.BinaryData = map[string][]byte{"bin": {1}}
	if _, err := client.CoreV1().ConfigMaps("new").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, good("new"), "changed ConfigMap repaired")

	dying := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dying"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, dying, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if cms("dying") != nil {
		t.Fatal("ConfigMap created in a terminating namespace")
	}
}
