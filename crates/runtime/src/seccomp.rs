//! Seccomp: placeholder, being written in the seccomp worktree.
