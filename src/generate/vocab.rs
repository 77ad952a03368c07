//! The vocabulary the generator draws from: names and places by country (with
//! accented and non-Latin names, so that search meets real text), and the codes
//! of conditions, observations and blood groups.

/// People and places of one country.
pub struct Locale {
    /// ISO 3166 alpha-2 code, as `Address.country`.
    pub country: &'static str,
    /// Language of `Patient.communication`, BCP 47.
    pub language: &'static str,
    pub female: &'static [&'static str],
    pub male: &'static [&'static str],
    pub family: &'static [&'static str],
    /// (city, postal code pattern: `#` a random digit, anything else as is).
    pub cities: &'static [(&'static str, &'static str)],
    pub streets: &'static [&'static str],
    /// Telephone country code.
    pub phone: &'static str,
}

pub const LOCALES: &[Locale] = &[
    Locale {
        country: "ES",
        language: "es",
        female: &["María", "Lucía", "Carmen", "Inés", "Begoña"],
        male: &["José", "Jesús", "Álvaro", "Andrés", "Íñigo"],
        family: &[
            "García",
            "Ñúñez",
            "Martínez",
            "Sánchez",
            "Pérez",
            "Gómez",
            "Ibáñez",
        ],
        cities: &[
            ("Madrid", "28###"),
            ("Sevilla", "41###"),
            ("A Coruña", "15###"),
        ],
        streets: &[
            "Calle de Alcalá",
            "Avenida de la Constitución",
            "Plaza Mayor",
        ],
        phone: "+34",
    },
    Locale {
        country: "DE",
        language: "de",
        female: &["Zoë", "Jördis", "Sophie", "Hannah", "Käthe"],
        male: &["Lukas", "Jörg", "Björn", "Maximilian", "Uwe"],
        family: &[
            "Müller",
            "Schmidt",
            "Schröder",
            "Weiß",
            "Groß",
            "Köhler",
            "Bauer",
        ],
        cities: &[("München", "80###"), ("Köln", "50###"), ("Berlin", "10###")],
        streets: &["Hauptstraße", "Schloßallee", "Bahnhofstraße"],
        phone: "+49",
    },
    Locale {
        country: "NO",
        language: "nb",
        female: &["Åse", "Ingrid", "Sigrid", "Solveig", "Øydis"],
        male: &["Øyvind", "Håkon", "Bjørn", "Ole", "Pål"],
        family: &["Øster", "Hansen", "Johansen", "Sæther", "Løvås", "Berg"],
        cities: &[("Oslo", "0###"), ("Tromsø", "90##"), ("Bergen", "50##")],
        streets: &["Storgata", "Kirkeveien", "Bjørnstjerne Bjørnsons gate"],
        phone: "+47",
    },
    Locale {
        country: "PL",
        language: "pl",
        female: &["Małgorzata", "Agnieszka", "Zofia", "Joanna", "Bożena"],
        male: &["Łukasz", "Paweł", "Michał", "Wojciech", "Jerzy"],
        family: &[
            "Kowalski",
            "Wiśniewska",
            "Wójcik",
            "Łukaszewicz",
            "Nowak",
            "Żak",
        ],
        cities: &[
            ("Kraków", "30-###"),
            ("Łódź", "90-###"),
            ("Gdańsk", "80-###"),
        ],
        streets: &["ulica Długa", "ulica Świętokrzyska", "aleja Róż"],
        phone: "+48",
    },
    Locale {
        country: "JP",
        language: "ja",
        female: &["花子", "陽菜", "美咲", "さくら"],
        male: &["太郎", "翔太", "健", "大輔"],
        family: &["山田", "佐藤", "鈴木", "高橋", "田中", "渡辺"],
        cities: &[
            ("東京", "100-####"),
            ("大阪", "530-####"),
            ("札幌", "060-####"),
        ],
        streets: &["銀座一丁目", "中央通り", "本町二丁目"],
        phone: "+81",
    },
    Locale {
        country: "FR",
        language: "fr",
        female: &["Chloé", "Hélène", "Anaïs", "Léa", "Françoise"],
        male: &["François", "Jérôme", "Noël", "Raphaël", "Loïc"],
        family: &["Lefèvre", "Dubois", "Bénard", "Moreau", "Faure", "Girard"],
        cities: &[
            ("Paris", "750##"),
            ("Besançon", "250##"),
            ("Nîmes", "300##"),
        ],
        streets: &[
            "rue de la Paix",
            "boulevard Saint-Michel",
            "place de l'Église",
        ],
        phone: "+33",
    },
    Locale {
        country: "NL",
        language: "nl",
        female: &["Anouk", "Femke", "Eline", "Saskia"],
        male: &["Daan", "Sjoerd", "Joris", "Pieter"],
        family: &[
            "de Vries",
            "van den Berg",
            "Jansen",
            "Bakker",
            "Visser",
            "van Dijk",
        ],
        cities: &[
            ("Amsterdam", "10## AB"),
            ("Utrecht", "35## CD"),
            ("Groningen", "97## EF"),
        ],
        streets: &["Keizersgracht", "Dorpsstraat", "Kerkstraat"],
        phone: "+31",
    },
    Locale {
        country: "GB",
        language: "en-GB",
        female: &["Olivia", "Amelia", "Siobhan", "Niamh", "Emily"],
        male: &["Oliver", "Harry", "Seán", "Owain", "George"],
        family: &[
            "Smith", "O'Brien", "Jones", "Taylor", "Okafor", "Patel", "Williams",
        ],
        cities: &[
            ("London", "SW1A #AA"),
            ("Cardiff", "CF10 #AB"),
            ("Leeds", "LS1 #BA"),
        ],
        streets: &["High Street", "Station Road", "Church Lane"],
        phone: "+44",
    },
];

/// A coded concept: (code, display).
pub type Concept = (&'static str, &'static str);

pub const SNOMED: &str = "http://snomed.info/sct";
pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";

/// Conditions with their relative frequency. The last is rare on purpose (about
/// one condition in two hundred), for selective searches.
pub const CONDITIONS: &[(u32, Concept)] = &[
    (30, ("38341003", "Hypertensive disorder, systemic arterial")),
    (20, ("44054006", "Diabetes mellitus type 2")),
    (15, ("271737000", "Anemia")),
    (12, ("87522002", "Iron deficiency anemia")),
    (12, ("195967001", "Asthma")),
    (10, ("414916001", "Obesity")),
    (10, ("40930008", "Hypothyroidism")),
    (8, ("49436004", "Atrial fibrillation")),
    (8, ("13645005", "Chronic obstructive lung disease")),
    (6, ("709044004", "Chronic kidney disease")),
    (5, ("302215000", "Thrombocytopenic disorder")),
    (3, ("28293008", "Hereditary factor VIII deficiency disease")),
    (1, ("417357006", "Sickling disorder due to hemoglobin S")),
];

/// The rare condition code (see [`CONDITIONS`]).
pub const RARE_CONDITION: &str = "417357006";

/// ABO and Rh(D) groups (SNOMED CT) with their frequency in per mille.
pub const BLOOD_GROUPS: &[(u32, Concept)] = &[
    (370, ("278147001", "Blood group O Rh(D) positive")),
    (340, ("278149003", "Blood group A Rh(D) positive")),
    (90, ("278150003", "Blood group B Rh(D) positive")),
    (30, ("278151004", "Blood group AB Rh(D) positive")),
    (70, ("278148006", "Blood group O Rh(D) negative")),
    (60, ("278152006", "Blood group A Rh(D) negative")),
    (20, ("278153001", "Blood group B Rh(D) negative")),
    (20, ("278154007", "Blood group AB Rh(D) negative")),
];

pub const HEART_RATE: Concept = ("8867-4", "Heart rate");
pub const BODY_TEMPERATURE: Concept = ("8310-5", "Body temperature");
pub const BODY_WEIGHT: Concept = ("29463-7", "Body weight");
pub const HAEMOGLOBIN: Concept = ("718-7", "Hemoglobin [Mass/volume] in Blood");
pub const PLATELETS: Concept = ("777-3", "Platelets [#/volume] in Blood by Automated count");
pub const BLOOD_PRESSURE: Concept = ("85354-9", "Blood pressure panel with all children optional");
pub const SYSTOLIC: Concept = ("8480-6", "Systolic blood pressure");
pub const DIASTOLIC: Concept = ("8462-4", "Diastolic blood pressure");
pub const ABO_RH: Concept = ("882-1", "ABO and Rh group [Type] in Blood");

/// An encounter class (v3 ActCode), its type (SNOMED CT) and its shortest and
/// longest duration in minutes.
pub type EncounterKind = (Concept, Concept, i64, i64);

/// Encounter kinds with their frequency.
pub const ENCOUNTER_CLASSES: &[(u32, EncounterKind)] = &[
    (
        70,
        (
            ("AMB", "ambulatory"),
            ("185349003", "Encounter for check up"),
            15,
            90,
        ),
    ),
    (
        15,
        (
            ("EMER", "emergency"),
            ("50849002", "Emergency room admission"),
            60,
            480,
        ),
    ),
    (
        15,
        (
            ("IMP", "inpatient encounter"),
            ("32485007", "Hospital admission"),
            1440,
            14400,
        ),
    ),
];

/// Words of organization names.
pub const ORGANIZATION_KINDS: &[&str] = &[
    "General Hospital",
    "Blood Centre",
    "University Medical Centre",
    "Community Clinic",
];
