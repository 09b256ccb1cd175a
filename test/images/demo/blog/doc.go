// Command blog is the entrypoint of Skiff's demo images docker.io/skiff/blog:v1
// and :v2: the web app of internal/blog on :8080 (LISTEN_ADDR overrides), its
// database from DB_HOST, DB_PORT, DB_USER, DB_PASSWORD and DB_NAME. The
// version is set at build time: go build -ldflags "-X main.version=v2".
// It logs to stdout and shuts down gracefully on SIGTERM. `blog dbcheck`
// connects to the database once and says where it got (exit status 1 if not);
// `blog version` prints the version.
package main
