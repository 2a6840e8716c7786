//! `commentguard submit` and `commentguard thread`: a client for trying the service.
