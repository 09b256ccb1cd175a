// Command mysql is the entrypoint of Skiff's demo image docker.io/skiff/mysql:
// a MySQL-protocol server (internal/mysqld) on 0.0.0.0:3306 configured by the
// official mysql image's environment variables (MYSQL_LISTEN_ADDR and
// MYSQL_LOG_LEVEL are extras). It logs to stdout, keeps data in memory only,
// and exits cleanly on SIGTERM or SIGINT.
//
// Like the official image's entrypoint, a first argument that is not an option
// runs that command instead ("mysqld" runs the server); run as "mysql" or
// "mysqladmin" (the image links /usr/bin/mysql and /usr/bin/mysqladmin to this
// binary) it is the command-line client or the ping/status tool of
// internal/mysqlcli.
package main
