package lb

//go:generate go tool bpf2go -cc clang-16 -cflags "-O2 -g -Wall -Werror" -target bpfel -type svc_key -type svc_entry -type slot_key -type backend -type maglev_table -type ct_key -type ct_entry -type affinity_key -type affinity_entry -type lb_stat -type svc_flags -type ct_flags -type ct_dir -type dns_cfg -type dns_stat -type sock_xlate_key -type sock_xlate -type sock_stat -type sock_xlate_dir lb lb.c -- -I../include
