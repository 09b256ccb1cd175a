// Package mysqlcli is a small `mysql` command-line client for Skiff's demo
// image docker.io/skiff/mysql, so the tutorial step
//
//	kubectl run -it --rm --image=docker.io/skiff/mysql:v1 --restart=Never mysql-client -- mysql -h mysql -ppassword
//
// works as with the official image.
//
// In: mysql-style arguments (-h/--host, -P/--port, -u/--user, -pPASS or
// --password=PASS or MYSQL_PWD, -D/--database or a positional database,
// -e/--execute, -N, -B, -t, --connect-timeout; MYSQL_HOST, MYSQL_TCP_PORT
// and MYSQL_PWD from the environment) and SQL statements on stdin,
// separated by ';'.
// Out: result sets on stdout, tab-separated (batch, the default when stdin is
// not a terminal) or as ASCII tables (-t or interactive), errors on stderr as
// "ERROR code (state): message", and exit status 1 after an error in batch
// mode. Admin is a small mysqladmin (ping, status, version) for probes.
package mysqlcli
