package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/skiffnet/skiff/control/controllers/ctrltest"
)

func TestDefaultServiceAccount(t *testing.T) {
	client := ctrltest.NewClient(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pre"}})
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	go c.Run(ctx, 1)
	has := func(ns string) bool {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, DefaultName, metav1.GetOptions{})
		return err == nil
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool { return has("pre") }, "default SA in existing namespace")
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool { return has("new") }, "default SA in new namespace")
	if err := client.CoreV1().ServiceAccounts("new").Delete(ctx, DefaultName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool { return has("new") }, "default SA recreated")
	term := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dying"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, term, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if has("dying") {
		t.Fatal("default SA created in a terminating namespace")
	}
}
