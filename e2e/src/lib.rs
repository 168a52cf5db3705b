//! Test support: a real etcd and kube-apiserver started on loopback, for the real-cluster tests
//! and the demo.
