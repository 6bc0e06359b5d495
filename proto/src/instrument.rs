//! Instrument profiles (R11): which instrument models hold personal health
//! information, so that their hosts run without file transfer unless an
//! installer explicitly approves it.
//!
//! The decision fails closed: a model name is normalised (case, spacing,
//! punctuation, configuration suffixes such as "3L 10C"), and only a model
//! known to hold no patient data, or one the operator's enrolment token
//! marks `no-phi`, counts as non-PHI. Anything the host cannot classify is PHI.

/// Instrument controller PCs that hold PHI (the bulletin's list).
pub const PHI_MODELS: &[&str] = &[
    "Navios",
    "Navios EX",
    "DxFLEX",
    "DI Instrument Manager",
    "Data Innovations Instrument Manager",
    "AQUIOS CL",
    "CellMek SPS",
];

/// Models known to keep no patient data on their controller PC. Only these
/// (and models an operator's token marks `no-phi`) may run file transfer
/// without the R11 approval; keep the list short and certain.
pub const NON_PHI_MODELS: &[&str] = &["DxH 900", "DxH 690T", "DxH 560", "CytoFLEX"];

/// Trailing words that name a configuration or packaging of a model, not
/// another model: "DxFLEX 3L" is a DxFLEX.
const SUFFIX_WORDS: &[&str] = &[
    "ivd",
    "ce",
    "ruo",
    "system",
    "analyzer",
    "analyser",
    "flow",
    "cytometer",
];

crate::wire_enum! {
    /// Whether an instrument holds personal health information (R11), as
    /// the operator's enrolment token states it.
    pub enum InstrumentProfile {
        /// Holds PHI: file transfer only in a full build the installer approved.
        Phi = 1,
        /// Holds no PHI.
        NoPhi = 2,
    }
}

impl InstrumentProfile {
    /// The spelling used on command lines and in token text: `phi`, `no-phi`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Phi => "phi",
            Self::NoPhi => "no-phi",
        }
    }

    /// Parses [`InstrumentProfile::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "phi" => Some(Self::Phi),
            "no-phi" => Some(Self::NoPhi),
            _ => None,
        }
    }
}

impl std::fmt::Display for InstrumentProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the host knows about a model by its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelClass {
    /// On the bulletin's PHI list.
    Phi,
    /// On [`NON_PHI_MODELS`].
    NoPhi,
    /// Neither: treated as PHI unless the operator's token says otherwise.
    Unknown,
}

/// The comparable form of a model name: lowercase words of letters and
/// digits, trailing configuration suffixes dropped, joined without spaces,
/// so "Navios-EX", "navios  ex" and "NaviosEX 3L 10C" are one model.
pub fn normalise_model(model: &str) -> String {
    let lower = model.to_lowercase();
    let mut words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    while words.len() > 1 && words.last().is_some_and(|w| is_suffix(w)) {
        words.pop();
    }
    words.concat()
}

/// Laser and colour configurations ("3l", "10c", "3l10c") and packaging words.
fn is_suffix(word: &str) -> bool {
    if SUFFIX_WORDS.contains(&word) {
        return true;
    }
    // One or more groups of digits each followed by `l` or `c`.
    let mut rest = word;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        match rest[digits..].chars().next() {
            Some('l' | 'c') => rest = &rest[digits + 1..],
            _ => return false,
        }
    }
    true
}

/// Classifies a model by name, after [`normalise_model`].
pub fn classify_model(model: &str) -> ModelClass {
    let model = normalise_model(model);
    let listed = |list: &[&str]| list.iter().any(|m| normalise_model(m) == model);
    if listed(PHI_MODELS) {
        ModelClass::Phi
    } else if !model.is_empty() && listed(NON_PHI_MODELS) {
        ModelClass::NoPhi
    } else {
        ModelClass::Unknown
    }
}

/// The profile a model gets when no one said otherwise: only a known non-PHI
/// model is `NoPhi`; unknown models fail closed to `Phi`.
pub fn default_profile(model: &str) -> InstrumentProfile {
    match classify_model(model) {
        ModelClass::NoPhi => InstrumentProfile::NoPhi,
        ModelClass::Phi | ModelClass::Unknown => InstrumentProfile::Phi,
    }
}

/// Whether the operator may mark `model` with `profile`: a model on the
/// bulletin's PHI list is PHI whatever a token says (R11).
pub fn profile_allowed(model: &str, profile: InstrumentProfile) -> bool {
    profile == InstrumentProfile::Phi || classify_model(model) != ModelClass::Phi
}

/// The profile a host acts on: the token's explicit profile wins, except
/// that nothing makes a listed PHI model non-PHI.
pub fn effective_profile(model: &str, token: Option<InstrumentProfile>) -> InstrumentProfile {
    match token {
        Some(profile) if profile_allowed(model, profile) => profile,
        Some(_) => InstrumentProfile::Phi,
        None => default_profile(model),
    }
}

/// Whether `model`, with no token to say otherwise, must be treated as
/// holding PHI. Fails closed: unknown models are PHI.
pub fn is_phi_model(model: &str) -> bool {
    default_profile(model) == InstrumentProfile::Phi
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
            assert!(is_phi_model(&model.replace(' ', "-")));
            assert_eq!(classify_model(&model.replace(' ', "_")), ModelClass::Phi);
        }
    }

    #[test]
    fn punctuation_case_and_configuration_suffixes_do_not_hide_a_phi_model() {
        for model in [
            "navios ex",
            "Navios-EX",
            "NaviosEX",
            "NAVIOS EX 3L 10C",
            "Navios EX 2L6C",
            "DxFLEX-3L",
            "DxFLEX 3L",
            "Dx FLEX",
            "dxflex (IVD)",
            "AQUIOS-CL system",
            "CellMek  SPS",
        ] {
            assert_eq!(classify_model(model), ModelClass::Phi, "{model}");
        }
    }

    #[test]
    fn unknown_models_are_phi_unless_a_token_says_otherwise() {
        for model in [
            "Navios EX2",
            "XR-9000",
            "",
            "Nаvios EX", /* Cyrillic а */
        ] {
            assert_eq!(classify_model(model), ModelClass::Unknown, "{model}");
            assert!(is_phi_model(model), "{model}");
            assert_eq!(
                effective_profile(model, Some(InstrumentProfile::NoPhi)),
                InstrumentProfile::NoPhi
            );
        }
    }

    #[test]
    fn known_non_phi_models_need_no_token() {
        for model in ["DxH 900", "dxh-900", "CytoFLEX"] {
            assert_eq!(classify_model(model), ModelClass::NoPhi, "{model}");
            assert!(!is_phi_model(model), "{model}");
        }
        // The token's explicit profile wins for a model that is not listed PHI.
        assert_eq!(
            effective_profile("DxH 900", Some(InstrumentProfile::Phi)),
            InstrumentProfile::Phi
        );
    }

    #[test]
    fn no_token_makes_a_listed_phi_model_non_phi() {
        assert!(!profile_allowed("Navios-EX", InstrumentProfile::NoPhi));
        assert_eq!(
            effective_profile("DxFLEX 3L", Some(InstrumentProfile::NoPhi)),
            InstrumentProfile::Phi
        );
    }

    #[test]
    fn suffix_stripping_keeps_the_model_itself() {
        assert_eq!(normalise_model("3L"), "3l");
        assert_eq!(normalise_model("Flow"), "flow");
        assert_eq!(normalise_model("DxH 900"), "dxh900");
        assert!(!is_suffix("l"));
        assert!(!is_suffix("3x"));
        assert!(is_suffix("3l10c"));
    }

    #[test]
    fn profile_names_round_trip() {
        for profile in [InstrumentProfile::Phi, InstrumentProfile::NoPhi] {
            assert_eq!(InstrumentProfile::from_name(profile.name()), Some(profile));
        }
        assert_eq!(InstrumentProfile::from_name("PHI "), None);
    }
}
