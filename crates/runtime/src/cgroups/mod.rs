//! Container cgroups: placeholder, being written in the cgroups worktree.
