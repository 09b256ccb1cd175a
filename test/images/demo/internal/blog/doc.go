// Package blog is the web app behind Skiff's demo image docker.io/skiff/blog:
// a tiny blog whose posts live in a MySQL database.
//
// In: database settings from the environment (ConfigFromEnv: DB_HOST,
// DB_PORT, DB_USER, DB_PASSWORD, DB_NAME, with the Kubernetes service
// variables MYSQL_SERVICE_HOST/PORT as defaults) and a version string.
// Out: an http.Handler serving GET / (HTML), POST /posts (form), GET and
// POST /api/posts (JSON), GET /healthz (200 only while the database answers)
// and GET /version; and WaitForDB, which retries the connection with back-off
// and creates the posts table.
package blog
