//! The parsed form of an expression: an [`Expr`] tree whose functions are
//! already resolved to [`Func`] (with their arity checked) and whose type
//! names are resolved to [`TypeSpec`]s, so that evaluation does no lookups
//! by name.

use super::types::TypeSpec;
use super::value::SystemValue;
use regex::Regex;

/// An expression node.
#[derive(Debug)]
pub(crate) enum Expr {
    Literal(SystemValue),
    /// `{}`
    Empty,
    /// A member step: `target.name`, or `name` on the focus (`$this`) when
    /// there is no target.
    Member {
        target: Option<Box<Expr>>,
        name: String,
    },
    /// An identifier on the focus that names a FHIR type (`Patient` in
    /// `Patient.name`): the focus if it is of that type, else nothing.
    TypeName(&'static str),
    Call(Box<Call>),
    /// `is`, `as` (operator or function) and `ofType()`.
    TypeOp {
        target: Option<Box<Expr>>,
        op: TypeOp,
        ty: TypeSpec,
    },
    Index(Box<Expr>, Box<Expr>),
    Negate(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Variable(Var),
    /// `%name`
    Constant(String),
}

/// A function call.
#[derive(Debug)]
pub(crate) struct Call {
    /// `None` for a call on the focus (`exists()` rather than `x.exists()`).
    pub target: Option<Expr>,
    pub func: Func,
    pub args: Vec<Expr>,
    /// The compiled pattern of `matches`/`replaceMatches` when it is a literal.
    pub regex: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeOp {
    Is,
    As,
    OfType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    This,
    Index,
    Total,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

impl BinOp {
    /// The operator of a symbol or keyword, with its precedence (higher binds tighter).
    pub(crate) fn lookup(text: &str) -> Option<(BinOp, u8)> {
        Some(match text {
            "*" => (BinOp::Mul, 11),
            "/" => (BinOp::Div, 11),
            "div" => (BinOp::IntDiv, 11),
            "mod" => (BinOp::Mod, 11),
            "+" => (BinOp::Add, 10),
            "-" => (BinOp::Sub, 10),
            "&" => (BinOp::Concat, 10),
            "|" => (BinOp::Union, 8),
            "<" => (BinOp::Lt, 7),
            ">" => (BinOp::Gt, 7),
            "<=" => (BinOp::Le, 7),
            ">=" => (BinOp::Ge, 7),
            "=" => (BinOp::Eq, 6),
            "!=" => (BinOp::Ne, 6),
            "~" => (BinOp::Equiv, 6),
            "!~" => (BinOp::NotEquiv, 6),
            "in" => (BinOp::In, 5),
            "contains" => (BinOp::Contains, 5),
            "and" => (BinOp::And, 4),
            "or" => (BinOp::Or, 3),
            "xor" => (BinOp::Xor, 3),
            "implies" => (BinOp::Implies, 2),
            _ => return None,
        })
    }
}

/// Precedence of `is` and `as`.
pub(crate) const TYPE_OP_PRECEDENCE: u8 = 9;
/// Precedence of unary `+` and `-`.
pub(crate) const POLARITY_PRECEDENCE: u8 = 12;

/// How a function's arguments are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Args {
    /// Once, on the caller's focus.
    Values,
    /// Per input item, with `$this` and `$index` (`where`, `select`, …).
    Lambda,
}

macro_rules! functions {
    ($($variant:ident $name:literal $min:literal $max:literal $args:ident,)*) => {
        /// Every function the engine knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Func { $($variant,)* }

        const FUNCTIONS: &[(&str, Func, usize, usize, Args)] = &[
            $(($name, Func::$variant, $min, $max, Args::$args),)*
        ];
    };
}

functions! {
    Empty "empty" 0 0 Values,
    Exists "exists" 0 1 Lambda,
    All "all" 1 1 Lambda,
    AllTrue "allTrue" 0 0 Values,
    AnyTrue "anyTrue" 0 0 Values,
    AllFalse "allFalse" 0 0 Values,
    AnyFalse "anyFalse" 0 0 Values,
    SubsetOf "subsetOf" 1 1 Values,
    SupersetOf "supersetOf" 1 1 Values,
    Count "count" 0 0 Values,
    Distinct "distinct" 0 0 Values,
    IsDistinct "isDistinct" 0 0 Values,
    Where "where" 1 1 Lambda,
    Select "select" 1 1 Lambda,
    Repeat "repeat" 1 1 Lambda,
    Single "single" 0 0 Values,
    First "first" 0 0 Values,
    Last "last" 0 0 Values,
    Tail "tail" 0 0 Values,
    Skip "skip" 1 1 Values,
    Take "take" 1 1 Values,
    Intersect "intersect" 1 1 Values,
    Exclude "exclude" 1 1 Values,
    Union "union" 1 1 Values,
    Combine "combine" 1 1 Values,
    Iif "iif" 2 3 Lambda,
    ToBoolean "toBoolean" 0 0 Values,
    ConvertsToBoolean "convertsToBoolean" 0 0 Values,
    ToInteger "toInteger" 0 0 Values,
    ConvertsToInteger "convertsToInteger" 0 0 Values,
    ToDate "toDate" 0 0 Values,
    ConvertsToDate "convertsToDate" 0 0 Values,
    ToDateTime "toDateTime" 0 0 Values,
    ConvertsToDateTime "convertsToDateTime" 0 0 Values,
    ToDecimal "toDecimal" 0 0 Values,
    ConvertsToDecimal "convertsToDecimal" 0 0 Values,
    ToQuantity "toQuantity" 0 1 Values,
    ConvertsToQuantity "convertsToQuantity" 0 1 Values,
    ToString "toString" 0 0 Values,
    ConvertsToString "convertsToString" 0 0 Values,
    ToTime "toTime" 0 0 Values,
    ConvertsToTime "convertsToTime" 0 0 Values,
    IndexOf "indexOf" 1 1 Values,
    LastIndexOf "lastIndexOf" 1 1 Values,
    Substring "substring" 1 2 Values,
    StartsWith "startsWith" 1 1 Values,
    EndsWith "endsWith" 1 1 Values,
    Contains "contains" 1 1 Values,
    Upper "upper" 0 0 Values,
    Lower "lower" 0 0 Values,
    Replace "replace" 2 2 Values,
    Matches "matches" 1 1 Values,
    MatchesFull "matchesFull" 1 1 Values,
    ReplaceMatches "replaceMatches" 2 2 Values,
    Length "length" 0 0 Values,
    ToChars "toChars" 0 0 Values,
    Trim "trim" 0 0 Values,
    Split "split" 1 1 Values,
    Join "join" 0 1 Values,
    Encode "encode" 1 1 Values,
    Decode "decode" 1 1 Values,
    Escape "escape" 1 1 Values,
    Unescape "unescape" 1 1 Values,
    Abs "abs" 0 0 Values,
    Ceiling "ceiling" 0 0 Values,
    Exp "exp" 0 0 Values,
    Floor "floor" 0 0 Values,
    Ln "ln" 0 0 Values,
    Log "log" 1 1 Values,
    Power "power" 1 1 Values,
    Round "round" 0 1 Values,
    Sqrt "sqrt" 0 0 Values,
    Truncate "truncate" 0 0 Values,
    Children "children" 0 0 Values,
    Descendants "descendants" 0 0 Values,
    Trace "trace" 1 2 Lambda,
    Now "now" 0 0 Values,
    TimeOfDay "timeOfDay" 0 0 Values,
    Today "today" 0 0 Values,
    Not "not" 0 0 Values,
    Type "type" 0 0 Values,
    Aggregate "aggregate" 1 2 Lambda,
    Sort "sort" 0 9 Lambda,
    Extension "extension" 1 1 Values,
    HasValue "hasValue" 0 0 Values,
    GetValue "getValue" 0 0 Values,
    Resolve "resolve" 0 0 Values,
    MemberOf "memberOf" 1 1 Values,
    HtmlChecks "htmlChecks" 0 0 Values,
    ConformsTo "conformsTo" 1 1 Values,
    LowBoundary "lowBoundary" 0 1 Values,
    HighBoundary "highBoundary" 0 1 Values,
    Precision "precision" 0 0 Values,
    Comparable "comparable" 1 1 Values,
}

impl Func {
    /// The function of a name, with its least and greatest argument count.
    pub(crate) fn lookup(name: &str) -> Option<(Func, usize, usize)> {
        FUNCTIONS
            .iter()
            .find(|f| f.0 == name)
            .map(|f| (f.1, f.2, f.3))
    }

    /// How the function's arguments are evaluated.
    pub(crate) fn args(self) -> Args {
        FUNCTIONS
            .iter()
            .find(|f| f.1 == self)
            .map_or(Args::Values, |f| f.4)
    }

    pub(crate) fn name(self) -> &'static str {
        FUNCTIONS.iter().find(|f| f.1 == self).map_or("?", |f| f.0)
    }
}
