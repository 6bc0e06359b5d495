//! Instrument profiles (R11): which instrument models hold personal health
//! information, so that their hosts run without file transfer unless an
//! installer explicitly approves it.

/// Instrument controller PCs that hold PHI (the bulletin's list).
pub const PHI_MODELS: &[&str] = &[
    "Navios",
    "Navios EX",
    "DxFLEX",
    "DI Instrument Manager",
    "AQUIOS CL",
    "CellMek SPS",
];

/// Whether `model` is on the PHI list. Case, surrounding spaces and runs of
/// spaces do not matter, so "navios  ex" cannot slip past as a new model.
/// "Data Innovations Instrument Manager" is the long form of one entry.
pub fn is_phi_model(model: &str) -> bool {
    let normalise = |s: &str| {
        s.split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let model = normalise(model);
    model == "data innovations instrument manager"
        || PHI_MODELS.iter().any(|phi| normalise(phi) == model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_model_is_phi_whatever_its_spelling() {
        for model in PHI_MODELS {
            assert!(is_phi_model(model));
            assert!(is_phi_model(&model.to_uppercase()));
            assert!(is_phi_model(&format!("  {}  ", model.replace(' ', "   "))));
        }
        assert!(is_phi_model("Data Innovations Instrument Manager"));
    }

    #[test]
    fn other_models_are_not_phi() {
        for model in ["DxH 900", "Navios EX2", "CytoFLEX", ""] {
            assert!(!is_phi_model(model), "{model}");
        }
    }
}
