//! Renderers of plans and drift: text for terminals, markdown for pull requests (within a size
//! budget), json for machines. Rendering never decides anything: it only formats a
//! `crate::plan::Plan`.
