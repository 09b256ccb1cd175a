package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// Errors callers map to Kubernetes Status replies.
var (
	ErrNotFound    = errors.New("storage: key not found")
	ErrExists      = errors.New("storage: key already exists")
	ErrConflict    = errors.New("storage: object was modified")
	ErrCompacted   = errors.New("storage: revision compacted")
	ErrBadContinue = errors.New("storage: invalid continue token")
)

// Store reads and writes typed objects in etcd.
type Store struct {
	Client *clientv3.Client
	Codec  runtime.Codec
	// watched decodes each watched change once for all watchers.
	watched decodeCache
}

// New returns a Store using codec for the bytes kept in etcd.
func New(cli *clientv3.Client, codec runtime.Codec) *Store {
	return &Store{Client: cli, Codec: codec}
}

// Key builds /registry/<resource>/<namespace>/<name> (no namespace segment
// for cluster-scoped objects).
func Key(resource, namespace, name string) string {
	if namespace == "" {
		return "/registry/" + resource + "/" + name
	}
	return "/registry/" + resource + "/" + namespace + "/" + name
}

// Prefix is the key prefix for listing a resource, in one namespace or all.
func Prefix(resource, namespace string) string {
	if namespace == "" {
		return "/registry/" + resource + "/"
	}
	return "/registry/" + resource + "/" + namespace + "/"
}

func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := acc.GetResourceVersion()
	acc.SetResourceVersion("")
	var buf bytes.Buffer
	err = s.Codec.Encode(obj, &buf)
	acc.SetResourceVersion(rv)
	return buf.Bytes(), err
}

func (s *Store) decode(data []byte, rev int64, into runtime.Object) error {
	if _, _, err := s.Codec.Decode(data, nil, into); err != nil {
		return fmt.Errorf("decode stored object: %w", err)
	}
	return setRV(into, rev)
}

func setRV(obj runtime.Object, rev int64) error {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	acc.SetResourceVersion(strconv.FormatInt(rev, 10))
	return nil
}

// Create stores obj at key if the key is absent and sets its resourceVersion.
func (s *Store) Create(ctx context.Context, key string, obj runtime.Object) error {
	data, err := s.encode(obj)
	if err != nil {
		return err
	}
	resp, err := s.Client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data))).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return ErrExists
	}
	return setRV(obj, resp.Header.Revision)
}

// Get reads key into out and returns its mod revision.
func (s *Store) Get(ctx context.Context, key string, out runtime.Object) (int64, error) {
	resp, err := s.Client.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if len(resp.Kvs) == 0 {
		return 0, ErrNotFound
	}
	kv := resp.Kvs[0]
	return kv.ModRevision, s.decode(kv.Value, kv.ModRevision, out)
}

// Update replaces key with obj if its mod revision still equals rev.
func (s *Store) Update(ctx context.Context, key string, obj runtime.Object, rev int64) error {
	data, err := s.encode(obj)
	if err != nil {
		return err
	}
	resp, err := s.Client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(data))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		if len(resp.Responses) > 0 && len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return ErrNotFound
		}
		return ErrConflict
	}
	return setRV(obj, resp.Header.Revision)
}

// Delete removes key if its mod revision still equals rev (0: any) and
// returns the revision of the deletion.
func (s *Store) Delete(ctx context.Context, key string, rev int64) (int64, error) {
	var cmp clientv3.Cmp
	if rev == 0 {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	} else {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", rev)
	}
	resp, err := s.Client.Txn(ctx).If(cmp).Then(clientv3.OpDelete(key)).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return 0, err
	}
	if !resp.Succeeded {
		if len(resp.Responses) > 0 && len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return 0, ErrNotFound
		}
		return 0, ErrConflict
	}
	return resp.Header.Revision, nil
}

// ListOptions select a page of a list.
type ListOptions struct {
	// Limit caps the number of returned items; 0 means all.
	Limit int64
	// Continue is a token from a previous page.
	Continue string
	// Revision reads at this revision; 0 means the latest.
	Revision int64
	// Filter keeps only the objects for which it returns true.
	Filter func(runtime.Object) bool
}

// ListResult is one page.
type ListResult struct {
	Items    []runtime.Object
	Revision int64
	Continue string
	// Remaining estimates the items after this page (unfiltered count), or nil.
	Remaining *int64
}

type continueToken struct {
	Rev   int64  `json:"rv"`
	Start string `json:"start"`
}

func encodeContinue(rev int64, start string) string {
	b, _ := json.Marshal(continueToken{Rev: rev, Start: start})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(tok, prefix string) (continueToken, error) {
	var c continueToken
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return c, ErrBadContinue
	}
	if json.Unmarshal(b, &c) != nil || c.Rev <= 0 || len(c.Start) < len(prefix) || c.Start[:len(prefix)] != prefix {
		return c, ErrBadContinue
	}
	return c, nil
}

// List reads the objects under prefix, decoding each with newItem.
func (s *Store) List(ctx context.Context, prefix string, opts ListOptions, newItem func() runtime.Object) (*ListResult, error) {
	start := prefix
	rev := opts.Revision
	if opts.Continue != "" {
		c, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return nil, err
		}
		start, rev = c.Start, c.Rev
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	res := &ListResult{Items: []runtime.Object{}}
	batch := int64(500)
	if opts.Limit > 0 && opts.Limit < batch {
		batch = opts.Limit
	}
	for {
		ops := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(batch)}
		if rev > 0 {
			ops = append(ops, clientv3.WithRev(rev))
		}
		resp, err := s.Client.Get(ctx, start, ops...)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, ErrCompacted
			}
			return nil, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for i, kv := range resp.Kvs {
			obj := newItem()
			if err := s.decode(kv.Value, kv.ModRevision, obj); err != nil {
				return nil, fmt.Errorf("%s: %w", kv.Key, err)
			}
			if opts.Filter != nil && !opts.Filter(obj) {
				continue
			}
			res.Items = append(res.Items, obj)
			if opts.Limit > 0 && int64(len(res.Items)) >= opts.Limit {
				more := i < len(resp.Kvs)-1 || resp.More
				if more {
					next := string(kv.Key) + "\x00"
					res.Continue = encodeContinue(rev, next)
					left := resp.Count - int64(i) - 1
					if left > 0 && opts.Filter == nil {
						res.Remaining = &left
					}
				}
				res.Revision = rev
				return res, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	res.Revision = rev
	return res, nil
}

// CurrentRevision returns the store's latest revision.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.Client.Get(ctx, "/registry/__rev", clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}
