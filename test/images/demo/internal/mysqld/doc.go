// Package mysqld is the database behind Skiff's demo image
// docker.io/skiff/mysql: a MySQL-protocol server on go-mysql-server's
// in-memory engine.
//
// In: the official mysql image's environment variables (ConfigFromEnv):
// MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD, MYSQL_RANDOM_ROOT_PASSWORD,
// MYSQL_ROOT_HOST, MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD, and the
// *_FILE variants that read a value from a mounted Secret.
// Out: a server (Start/Run) that accepts MySQL clients on a TCP listener,
// with root and the optional extra user created and MYSQL_DATABASE present.
// Data lives in memory only: it is lost when the process exits.
package mysqld
