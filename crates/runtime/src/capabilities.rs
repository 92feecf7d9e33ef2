//! Capabilities: placeholder, being written in the seccomp worktree.
