// Package serviceaccount makes sure every namespace has a ServiceAccount
// named "default".
//
// It takes Namespaces and ServiceAccounts from a shared informer factory and
// puts out ServiceAccount creates: when a namespace appears (or its default
// ServiceAccount is deleted) and the namespace is not terminating, it creates
// "default" there.
//
// Use: c := serviceaccount.New(client, factory); factory.Start(stop);
// go c.Run(ctx, workers).
package serviceaccount
