"""The classifier's lexicons: action cues, issuing bodies, regulatory context and reporter cues.

Every cue is a casefolded literal matched where a word starts (CJK cues match anywhere). A cue
ending in "=" must also end where a word ends ("ban=" matches "ban" but not "bank"). Cues are
stems where the language inflects: "sanction" matches "sanctions", "sanctioned"; "заборон"
matches "заборонив", "заборона".

Weights: STRONG cues name the action on their own ("entity list", "binding operational
directive"); NORMAL cues need a regulatory context (an issuer or a word like "government")
before they count, so "Facebook bans cryptocurrency adverts" is no ban; WEAK cues only add to an
action another cue already found, or need an issuer in the same item.
Sources of the foreign-language cues: the verbs and nouns regulators use in their own press
releases (BSI, CNIL, UOKiK, РНБО, Роскомнадзор, NKSC, 商务部); see docs/classifier.md.
"""

from __future__ import annotations

STRONG = 4
NORMAL = 2
WEAK = 1

# Most specific first: ties between actions go to the earlier one.
ACTION_CUES: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    (
        "entity_list",
        (
            ("entity list", STRONG),
            ("entity-list", STRONG),
            ("entity listing", STRONG),
            ("entity-liste", STRONG),
            ("liste des entités", STRONG),
            ("lista podmiotów", STRONG),
            ("список организаций", NORMAL),
            ("trade blacklist", STRONG),
            ("blacklist", NORMAL),
            ("schwarze liste", NORMAL),
            ("liste noire", NORMAL),
            ("черный список", NORMAL),
            ("чёрный список", NORMAL),
            ("чорного списку", NORMAL),
            ("чорний список", NORMAL),
            ("czarna lista", NORMAL),
            ("czarnej listy", NORMAL),
            ("juodąjį sąrašą", NORMAL),
            ("实体清单", STRONG),
            ("實體清單", STRONG),
            ("黑名单", NORMAL),
        ),
    ),
    (
        "covered_list",
        (
            ("covered list", STRONG),
            ("secure and trusted communications networks act", NORMAL),
            ("national security threat list", STRONG),
            ("list of communications equipment and services", STRONG),
            ("equipment and services that pose security threat", STRONG),
        ),
    ),
    (
        "directive",
        (
            ("binding operational directive", STRONG),
            ("emergency directive", STRONG),
            ("airworthiness directive", STRONG),
            ("dhs directive", STRONG),
            ("pspf direction", STRONG),
            ("mandatory direction", NORMAL),
            ("protective security policy framework direction", STRONG),
            ("directive", NORMAL),
            ("directing", WEAK),
            ("richtlinie", WEAK),
            ("директив", NORMAL),
            ("dyrektyw", WEAK),
            ("direktyv", WEAK),
            ("指令", WEAK),
        ),
    ),
    (
        "sanction",
        (
            ("sanction", NORMAL),
            ("ofac", STRONG),
            ("specially designated national", STRONG),
            ("sdn list", STRONG),
            ("military-industrial complex", NORMAL),
            ("chinese military companies", NORMAL),
            ("asset freeze", STRONG),
            ("blocking or unblocking of persons", STRONG),
            ("blocking property", STRONG),
            ("sanktion", NORMAL),
            ("санкци", NORMAL),
            ("санкці", NORMAL),
            ("sankcij", NORMAL),
            ("sankcj", NORMAL),
            ("sankcji", NORMAL),
            ("制裁", NORMAL),
        ),
    ),
    (
        "ban",
        (
            ("ban=", NORMAL),
            ("bans=", NORMAL),
            ("banned", NORMAL),
            ("banning", NORMAL),
            ("prohib", NORMAL),  # prohibit, prohibition; es prohibición, prohibirá
            ("prohíb", NORMAL),  # es prohíbe
            ("outlaw", NORMAL),
            ("forbid", NORMAL),
            ("barred", NORMAL),
            ("blocks access", NORMAL),
            ("blocks=", WEAK),
            ("revoke", NORMAL),
            ("revokes", NORMAL),
            ("revocation", NORMAL),
            ("denies", WEAK),
            ("deny the application", NORMAL),
            ("to remove", WEAK),
            ("be removed from", NORMAL),
            ("removal of", NORMAL),
            ("must remove", NORMAL),
            ("remove all", NORMAL),
            ("rip and replace", NORMAL),
            ("rip-and-replace", NORMAL),
            ("phase out", NORMAL),
            ("suspends the use", NORMAL),
            ("suspend the", WEAK),
            ("grounds its", NORMAL),
            ("stop using", NORMAL),
            ("stop installing", NORMAL),
            ("no longer be used", NORMAL),
            # ICTS final determinations prohibit transactions (89 FR 52434); "Case No. ICTS-..."
            ("final determination: case no. icts", STRONG),
            ("icts final determination", STRONG),
            ("final determination", WEAK),
            # FAR rules name the prohibited products in the title: "Use of Products and Services
            # of Kaspersky Lab" (83 FR 28141).
            ("use of products and services of", NORMAL),
            ("ordered the wind up", STRONG),
            ("orders wind up", STRONG),
            ("wind up", WEAK),
            ("wind-up", NORMAL),
            ("winding up", NORMAL),
            ("dissolution of", WEAK),
            ("cease operations", NORMAL),
            ("cease all operations", NORMAL),
            ("to close", WEAK),
            ("shutter", WEAK),
            ("will have to replace", NORMAL),
            ("have to replace", WEAK),
            ("must replace", NORMAL),
            ("restricts the use", NORMAL),
            ("prevent the installation", NORMAL),
            ("preventing the installation", NORMAL),
            ("remove existing instances", NORMAL),
            ("removing existing instances", NORMAL),
            # Dutch
            ("uitfaseren", NORMAL),
            ("uit te faseren", NORMAL),
            ("verbod", NORMAL),
            ("verbiedt", NORMAL),
            ("verboden", NORMAL),
            ("in de ban", NORMAL),
            # Italian
            ("limitazione del trattamento", STRONG),
            ("limitazione provvisoria", NORMAL),
            ("blocca=", NORMAL),
            ("bloccato", NORMAL),
            ("divieto", NORMAL),
            ("vieta=", NORMAL),
            # Spanish
            ("prohibición", NORMAL),
            ("veta=", NORMAL),
            # Korean: suspend, block, ban
            ("중단", NORMAL),
            ("차단", NORMAL),
            ("금지", NORMAL),
            # Japanese: exclude (from procurement)
            ("排除", NORMAL),
            ("exclude", WEAK),
            ("verbot", NORMAL),
            ("verbiet", NORMAL),
            ("verbann", NORMAL),
            ("untersag", NORMAL),
            ("interdit", NORMAL),
            ("interdire", NORMAL),
            ("interdisent", NORMAL),
            ("interdiction de", NORMAL),
            ("interdiction d'", NORMAL),
            ("exclut", NORMAL),
            ("bannit", NORMAL),
            ("запрет", NORMAL),
            ("запрещ", NORMAL),
            ("заблокировал", NORMAL),
            ("заборон", NORMAL),
            ("заблокува", NORMAL),
            ("draudžia", NORMAL),
            ("uždraud", NORMAL),
            ("draudim", NORMAL),
            ("zakaz", NORMAL),
            ("zawiesza", NORMAL),
            ("禁止", NORMAL),
            ("禁令", NORMAL),
            ("禁用", NORMAL),
            ("暂停", NORMAL),
            ("封禁", NORMAL),
        ),
    ),
    (
        "fine",
        (
            ("fined", NORMAL),
            ("fine=", NORMAL),
            ("fines=", NORMAL),
            ("penalty", NORMAL),
            ("civil penalty", STRONG),
            ("monetary penalty", STRONG),
            ("plead guilty", NORMAL),
            ("pay over $", WEAK),
            ("amende", NORMAL),
            ("bußgeld", NORMAL),
            ("geldbuße", NORMAL),
            ("штраф", NORMAL),
            ("оштрафова", NORMAL),
            ("bauda", NORMAL),
            ("nubaud", NORMAL),
            ("nałożył karę", NORMAL),
            ("nałożył na", WEAK),
            ("karę", WEAK),
            ("ukarał", NORMAL),
            ("罚款", NORMAL),
            ("multa", NORMAL),  # es, it
            ("multó", NORMAL),
            ("sanciona", NORMAL),  # es sancionar: to fine
            ("sanzion", NORMAL),  # it sanzione
            ("boete", NORMAL),  # nl
            ("과징금", NORMAL),  # ko: administrative fine
            ("過料", NORMAL),
            ("罰款", NORMAL),
            ("行政处罚", NORMAL),
        ),
    ),
    (
        "investigation",
        (
            ("investigat", NORMAL),
            ("probe", NORMAL),
            ("inquiry", NORMAL),
            ("formal proceedings", STRONG),
            ("charges", WEAK),
            ("charged", WEAK),
            ("indicted", NORMAL),
            ("indictment", NORMAL),
            ("sues=", NORMAL),
            ("arrested", WEAK),
            ("antidumping", STRONG),
            ("countervailing duty", STRONG),
            ("ermittl", NORMAL),
            ("verfahren gegen", NORMAL),
            ("untersuch", NORMAL),
            ("enquête", NORMAL),
            ("расследован", NORMAL),
            ("розслідуван", NORMAL),
            ("tyrimą", WEAK),
            ("śledztw", NORMAL),
            ("dochodzeni", NORMAL),
            ("postępowanie", WEAK),
            ("调查", NORMAL),
            ("expediente sancionador", NORMAL),  # es: sanction proceedings
            ("expediente", WEAK),
            ("investigación", NORMAL),
            ("istruttoria", NORMAL),  # it
            ("indagine", NORMAL),
            ("onderzoek", WEAK),  # nl
            ("실태점검", NORMAL),  # ko: inspection
            ("立入検査", NORMAL),
            ("調查", NORMAL),
            ("审查", NORMAL),
            ("立案", NORMAL),
        ),
    ),
    (
        "guidance",
        (
            ("guidance", NORMAL),
            ("advisory", NORMAL),
            ("warns against", NORMAL),
            ("warn", WEAK),
            ("recommend", WEAK),
            ("advised", WEAK),
            ("tells citizens", NORMAL),
            ("materially higher risks", NORMAL),
            ("warnt vor", NORMAL),
            ("warnung", NORMAL),
            ("empfiehlt", WEAK),
            ("met en garde", NORMAL),
            ("avertit", NORMAL),
            ("recommande", WEAK),
            ("предупрежд", NORMAL),
            ("рекоменд", WEAK),
            ("попереджа", NORMAL),
            ("rekomenduoja", NORMAL),
            ("įspėja", NORMAL),
            ("ostrzega", NORMAL),
            ("zaleca", WEAK),
            ("警告", NORMAL),
            ("行政指導", NORMAL),  # ja: administrative guidance
            ("adviseert", WEAK),  # nl
            ("권고", WEAK),  # ko: recommendation
            ("提醒", WEAK),
            ("指南", NORMAL),
        ),
    ),
)

# Numbered directives need digits: "BOD 22-01", "ED 24-02": a prefix word and a digit, then
# the rest of the number.
NUMBERED_DIRECTIVE_PREFIXES = ("bod", "ed")
NUMBERED_DIRECTIVE_TAIL = r"\d-\d\d(?!\d)"
# Australia's Protective Security Policy Framework numbers its directions "001-2023": the prefix
# ("PSPF Direction 002-2025", "PSPF 001-2023", "Direction 001-2024"), then three digits and a year.
NUMBERED_DIRECTION_PREFIXES = ("pspf direction", "pspf", "direction")
NUMBERED_DIRECTION_TAIL = r"\d\d-(?:19|20)\d\d(?!\d)"

# Paragraphs that every item of a kind repeats (CISA's KEV alerts cite BOD 22-01 in each): a
# sentence of the lead that holds one of these markers decides no action.
BOILERPLATE = (
    "known exploited vulnerabilities catalog",
    "known exploited vulnerabilities (kev) catalog",
    "kev catalog",
    "bod 22-01",
    "reducing the significant risk of known exploited vulnerabilities",
)

# A title about a flaw is a vulnerability notice, like one naming a CVE: only a STRONG title cue
# makes it an action ("CISA Warns of TP-Link Router Vulnerability" is no guidance against TP-Link).
NOTICE_WORDS = ("vulnerabilit", "zero-day", "exploited", "security flaw", "security update", "patch ")

# Issuing bodies: (issuer, jurisdiction, cues). Named bodies win over national governments.
BODIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "DHS/CISA",
        "US",
        (
            "cisa=",
            "cybersecurity and infrastructure security agency",
            "department of homeland security",
            "homeland security",
            "dhs=",
        ),
    ),
    ("FCC", "US", ("fcc=", "federal communications commission", "联邦通信委员会")),
    (
        "BIS",
        "US",
        (
            "bureau of industry and security",
            "commerce department",
            "department of commerce",
            "u.s. commerce",
            "us commerce",
            "commerce adds",
            "secretary ross",
            "美国商务部",
            "工业与安全局",
            "минторг сша",
            "мінторгівлі сша",
        ),
    ),
    (
        "OFAC",
        "US",
        (
            "ofac=",
            "office of foreign assets control",
            "foreign assets control",
            "treasury",
            "u.s. treasury",
        ),
    ),
    ("DOJ", "US", ("justice department", "department of justice", "doj=")),
    ("FTC", "US", ("ftc=", "federal trade commission")),
    ("SEC", "US", ("securities and exchange commission", "sec charges")),
    ("FAA", "US", ("faa=", "federal aviation administration")),
    ("IRS", "US", ("irs=", "internal revenue service")),
    ("ITA", "US", ("international trade administration",)),
    ("FDA", "US", ("fda=", "food and drug administration")),
    ("ITC", "US", ("international trade commission",)),
    ("US Department of Defense", "US", ("pentagon", "department of defense", "u.s. army", "us army")),
    ("NCSC", "UK", ("ncsc=", "national cyber security centre")),
    ("ICO", "UK", ("ico=", "information commissioner")),
    (
        "BSI",
        "DE",
        ("bsi=", "bundesamt für sicherheit in der informationstechnik", "office fédéral de la sécurité"),
    ),
    ("Bundeskartellamt", "DE", ("bundeskartellamt",)),
    ("CNIL", "FR", ("cnil=",)),
    ("ANSSI", "FR", ("anssi=",)),
    ("Irish DPC", "IE", ("data protection commission",)),
    ("Garante", "IT", ("garante", "privacy watchdog")),
    ("Roskomnadzor", "RU", ("roskomnadzor", "роскомнадзор")),
    (
        "NKSC",
        "LT",
        ("nacionalinio kibernetinio saugumo centr", "nacionalinis kibernetinio saugumo centr", "nksc="),
    ),
    ("UOKiK", "PL", ("uokik", "urzędu ochrony konkurencji")),
    ("UODO", "PL", ("uodo=",)),
    ("CAC", "CN", ("国家网信办", "国家互联网信息办公室", "网络安全审查办公室", "cyberspace administration")),
    ("MOFCOM", "CN", ("商务部",)),
    (
        "EU Commission",
        "EU",
        (
            "european commission",
            "eu commission",
            "commission opens",
            "commission fines",
            "commission strengthens",
            "commission announces",
            "commission européenne",
            "europäische kommission",
            "komisja europejska",
            "europos komisija",
            "єврокомісія",
            "еврокомиссия",
            "欧盟委员会",
            "antitrust: commission",
        ),
    ),
    (
        "EU Council",
        "EU",
        ("council of the eu", "council of the european union", "eu imposes", "eu verhängt", "es įvedė"),
    ),
    ("European Parliament", "EU", ("european parliament",)),
    ("EDPB", "EU", ("european data protection board", "edpb=")),
    ("ENISA", "EU", ("enisa=",)),
    # United States: more federal bodies (Five Eyes agencies among them)
    ("FAR Council", "US", ("federal acquisition regulation", "far council", "dod, gsa, and nasa")),
    ("NTIA", "US", ("ntia=", "national telecommunications and information administration")),
    ("FBI", "US", ("fbi=", "federal bureau of investigation")),
    ("NSA", "US", ("nsa=", "national security agency")),
    ("ODNI", "US", ("director of national intelligence",)),
    ("GSA", "US", ("general services administration",)),
    # Five Eyes: United Kingdom, Canada, Australia, New Zealand
    ("GCHQ", "UK", ("gchq=",)),
    ("Ofcom", "UK", ("ofcom=",)),
    ("CMA", "UK", ("competition and markets authority",)),
    # "Treasury Board" is Canada's, never the US Treasury (OFAC): the longer name wins.
    ("Treasury Board of Canada", "CA", ("treasury board", "conseil du trésor")),
    ("Canadian Centre for Cyber Security", "CA", ("canadian centre for cyber security", "cyber centre")),
    ("CSE", "CA", ("communications security establishment",)),
    ("CRTC", "CA", ("crtc=", "canadian radio-television and telecommunications commission")),
    ("Australian Department of Home Affairs", "AU", ("department of home affairs",)),
    ("ASD", "AU", ("australian signals directorate", "australian cyber security centre", "acsc=")),
    ("ACMA", "AU", ("acma=", "australian communications and media authority")),
    ("New South Wales", "AU", ("nsw government", "cyber security nsw")),
    ("GCSB", "NZ", ("gcsb=", "government communications security bureau")),
    # More national regulators
    ("AEPD", "ES", ("aepd=", "agencia española de protección de datos")),
    ("CNMC", "ES", ("cnmc=", "comisión nacional de los mercados")),
    ("ACN", "IT", ("agenzia per la cybersicurezza nazionale",)),
    ("AGCM", "IT", ("agcm=", "autorità garante della concorrenza")),
    ("Autoriteit Persoonsgegevens", "NL", ("autoriteit persoonsgegevens",)),
    (
        "PIPC",
        "KR",
        ("개인정보보호위원회", "개인정보위", "개보위", "personal information protection commission"),
    ),
    ("KFTC", "KR", ("공정거래위원회", "공정위", "korea fair trade commission")),
    ("MIC", "JP", ("総務省", "ministry of internal affairs and communications")),
    ("METI", "JP", ("経済産業省", "ministry of economy, trade and industry")),
    ("JFTC", "JP", ("公正取引委員会", "japan fair trade commission")),
)

# The 50 US states issue their own bans ("Texas governor bans TikTok on state devices"); the issuer
# is the state, jurisdiction US. Names that mostly mean something else are left to their longer
# forms: Washington (the federal government), Georgia (the country), New York (its newspapers).
_STATE_NAMES = (
    "Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Hawaii Idaho "
    "Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan "
    "Minnesota Mississippi Missouri Montana Nebraska Nevada Ohio Oklahoma Oregon Pennsylvania "
    "Tennessee Texas Utah Vermont Virginia Wisconsin Wyoming"
).split() + [
    "New Hampshire",
    "New Jersey",
    "New Mexico",
    "North Carolina",
    "North Dakota",
    "Rhode Island",
    "South Carolina",
    "South Dakota",
    "West Virginia",
]
US_STATES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    *((name, "US", (name.casefold() + "=",)) for name in _STATE_NAMES),
    ("Washington", "US", ("washington state", "state of washington")),
    ("Georgia", "US", ("georgia governor", "state of georgia")),
    ("New York", "US", ("new york state", "state of new york", "new york governor", "governor hochul")),
)

# National governments (and a few bodies named by one word): a country counts as the issuer
# only where it starts the title or the lead ("Lithuania bans ...") or is followed by a
# government word ("Dutch government").
COUNTRIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "US government",
        "US",
        (
            "u.s.",
            "us=",
            "united states",
            "america",
            "biden",
            "美国",
            "estados unidos",
            "stati uniti",
            "verenigde staten",
            "сша",
            "états-unis",
            "usa=",
        ),
    ),
    (
        "UK government",
        "UK",
        (
            "uk=",
            "britain",
            "united kingdom",
            "government departments",
            "le royaume-uni",
            "reino unido",
            "regno unito",
        ),
    ),
    ("German government", "DE", ("germany", "deutschland", "bundesregierung", "l'allemagne")),
    ("French government", "FR", ("france", "la france")),
    ("Dutch government", "NL", ("dutch", "netherlands", "nederland", "kabinet=", "rijksoverheid")),
    ("Lithuanian government", "LT", ("lithuania", "lietuva", "krašto apsaugos ministerija")),
    ("Polish government", "PL", ("poland", "polish", "polska", "abw=", "agencja bezpieczeństwa")),
    (
        "Ukrainian government",
        "UA",
        ("ukraine", "україна", "украина", "рнбо", "порошенко", "президента україни"),
    ),
    ("Russian government", "RU", ("russia", "россия", "минцифры")),
    ("Chinese government", "CN", ("china bans", "中国政府")),
    ("Australian government", "AU", ("australia",)),
    ("Indian government", "IN", ("india",)),
    ("Swedish government", "SE", ("sweden",)),
    ("Italian government", "IT", ("italy", "italia", "governo italiano")),
    ("South Korean government", "KR", ("south korea", "한국 정부")),
    ("Japanese government", "JP", ("japan", "日本政府", "日本")),
    ("Spanish government", "ES", ("spain", "españa", "gobierno de españa")),
    ("New Zealand government", "NZ", ("new zealand",)),
    ("Belgian government", "BE", ("belgium",)),
    ("Austrian government", "AT", ("austria",)),
    ("Czech government", "CZ", ("czech republic", "czechia")),
    ("Danish government", "DK", ("denmark",)),
    ("Estonian government", "EE", ("estonia",)),
    ("Latvian government", "LV", ("latvia",)),
    ("Finnish government", "FI", ("finland",)),
    ("Norwegian government", "NO", ("norway",)),
    ("Taiwanese government", "TW", ("taiwan",)),
    # Not a country, but the same rule: "Commerce bans ..." is the US Department of Commerce.
    ("BIS", "US", ("commerce=",)),
    ("Canadian government", "CA", ("canada", "ottawa")),
    *US_STATES,
)

# Phrases whose action word is no action: an "advisory committee" advises nobody to do anything.
MASKS = (
    "advisory committee",
    "advisory panel",
    "advisory board",
    "advisory council",
    "advisory opinion",
)

# Country cues that name a state organ, so they are the issuer wherever they stand.
GOVERNMENT_NAMES = frozenset(
    {
        "bundesregierung",
        "georgia governor",
        "new york governor",
        "governor hochul",
        "state of georgia",
        "state of new york",
        "state of washington",
        "rijksoverheid",
        "kabinet",
        "日本政府",
        "gobierno de españa",
        "governo italiano",
        "biden",
        "government departments",
        "krašto apsaugos ministerija",
        "abw",
        "agencja bezpieczeństwa",
        "рнбо",
        "порошенко",
        "президента україни",
        "минцифры",
        "china bans",
        "中国政府",
    }
)

# Words that make an item about a state act, so a NORMAL cue counts without a named issuer.
CONTEXT = (
    "government",
    "governor",
    "ministry",
    "minister",
    "regulator",
    "watchdog",
    "authorities",
    "authority",
    "agency",
    "agencies",
    "department",
    "cabinet office",
    "parliament",
    "congress",
    "senate",
    "supreme court",
    "court=",
    "law=",
    "bill=",
    "decree",
    "federal",
    "section ",
    "determination",
    "rulings",
    "state devices",
    "government devices",
    "regierung",
    "ministerium",
    "behörde",
    "bundesamt",
    "gouvernement",
    "ministère",
    "autorité",
    "правительств",
    "министерств",
    "суд=",
    "указ",
    "уряд",
    "міністерств",
    "vyriausyb",
    "ministerij",
    "rząd",
    "ministerstw",
    "urzęd",
    "prezes",
    "政府",
    "委员会",
    "办公室",
    "overheid",
    "ministerie",
    "gobierno",
    "ministerio",
    "governo",
    "autorità",
    "autoridad",
    "정부",
    "위원회",
    "commonwealth",
    "mandatory",
)

# A vendor that is the subject of one of these is reporting or reacting, not targeted:
# "Kaspersky uncovers ...", "Kaspersky sues U.S. government over software ban".
REPORTER = (
    "says",
    "said",
    "sues",
    "lawsuit",
    "challenge",
    "appeal",
    "shut down",
    "lay off",
    "lays off",
    "researchers",
    "research",
    "experts",
    "discovers",
    "discovered",
    "uncovers",
    "detected",
    "reports",
    "report",
    "launches",
    "unveils",
    "releases",
    "announces",
    "warns of",
    "entdeckt",
    "découvre",
    "обнаружил",
    "виявил",
    "aptiko",
    "wykrył",
    "发现",
    "发布",
)
