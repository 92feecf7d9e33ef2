use super::Funcs;

pub(super) fn register(_f: &mut Funcs) {}
