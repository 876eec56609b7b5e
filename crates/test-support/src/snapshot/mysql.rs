//! The mysql account snapshot (written with the clone-fidelity catalogue).
