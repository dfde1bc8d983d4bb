//! One column definition of a CREATE TABLE or ALTER TABLE (`name type [attributes]`) turned into
//! a [`ColumnDef`]: the data type is parsed by `sqlparser`'s MySQL dialect, around a small
//! normalizer for what that parser rejects (ZEROFILL, SIGNED, the `BINARY` attribute, `CHARSET x`,
//! attributes that do not change the row shape such as DEFAULT, COMMENT, ON UPDATE, CHECK,
//! generated-column expressions, INVISIBLE, SRID).
//!
//! Type facts: MySQL manual 13 "Data Types" (defaults: CHAR = CHAR(1), DECIMAL = DECIMAL(10,0),
//! BIT = BIT(1), FLOAT(p) with p > 24 is DOUBLE, BOOL = TINYINT(1), SERIAL = BIGINT UNSIGNED NOT
//! NULL AUTO_INCREMENT UNIQUE), 13.3.5 (a character type with `CHARACTER SET binary` is the
//! matching binary type), MariaDB KB "JSON Data Type" (JSON is LONGTEXT CHARACTER SET utf8mb4).

use sqlparser::ast::{
    BinaryLength, CharacterLength, ColumnOption, DataType, EnumMember, ExactNumberInfo, GeometricTypeKind, Statement,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::lexer::{Tok, Token};
use super::model::{charset_of_collation, normalize_charset, ColumnDef};

/// Where the character set of a parsed column comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CharsetSpec {
    /// The column holds no character data.
    None,
    /// The table's default character set (resolved by the history).
    TableDefault,
    /// Given with the column (CHARACTER SET, COLLATE, NATIONAL) or fixed by the type.
    Explicit(String),
}

/// A column definition as parsed, before the table's default character set is applied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParsedColumn {
    /// The column; `charset` is filled in by [`ParsedColumn::resolve`].
    pub(crate) def: ColumnDef,
    /// Where its character set comes from.
    pub(crate) charset: CharsetSpec,
    /// An inline `PRIMARY KEY` (or bare `KEY`) attribute.
    pub(crate) primary_key: bool,
}

impl ParsedColumn {
    /// The column with its character set resolved against `table_charset`.
    ///
    /// Errors: a character column whose table has no known default character set.
    pub(crate) fn resolve(&self, table_charset: Option<&str>) -> Result<ColumnDef, String> {
        let mut def = self.def.clone();
        def.charset = match &self.charset {
            CharsetSpec::None => None,
            CharsetSpec::Explicit(c) => Some(c.clone()),
            CharsetSpec::TableDefault => Some(
                table_charset
                    .map(str::to_string)
                    .ok_or_else(|| format!("column `{}`: the table's default character set is not known", def.name))?,
            ),
        };
        if def.charset.as_deref() == Some("binary") {
            to_binary_type(&mut def);
        }
        Ok(def)
    }
}

/// A character type with `CHARACTER SET binary` becomes its binary twin (MySQL manual 13.3.5).
fn to_binary_type(def: &mut ColumnDef) {
    let new = match def.data_type.as_str() {
        "char" => "binary",
        "varchar" => "varbinary",
        "tinytext" => "tinyblob",
        "text" => "blob",
        "mediumtext" => "mediumblob",
        "longtext" => "longblob",
        _ => return,
    };
    def.column_type = def.column_type.replacen(&def.data_type, new, 1);
    def.data_type = new.to_string();
    def.charset = None;
}

/// Words that begin a column attribute (after the data type).
const ATTRIBUTE_WORDS: &[&str] = &[
    "NOT",
    "NULL",
    "DEFAULT",
    "PRIMARY",
    "KEY",
    "UNIQUE",
    "COMMENT",
    "COLLATE",
    "CHARSET",
    "AUTO_INCREMENT",
    "ON",
    "CHECK",
    "REFERENCES",
    "GENERATED",
    "AS",
    "INVISIBLE",
    "VISIBLE",
    "COLUMN_FORMAT",
    "STORAGE",
    "SRID",
    "COMPRESSED",
    "WITH",
    "WITHOUT",
    "ENGINE_ATTRIBUTE",
    "SECONDARY_ENGINE_ATTRIBUTE",
    "CONSTRAINT",
    "PERSISTENT",
    "VIRTUAL",
    "STORED",
    "ORIGIN_DEFAULT",
    "SKIP_INDEX",
];

/// Parses a column definition (`tokens` from the column name on, without FIRST/AFTER) of the
/// statement text `text`; `mariadb` selects MariaDB's JSON (LONGTEXT utf8mb4).
///
/// Errors: a definition whose data type `sqlparser` cannot read, or a type this model does not
/// know, with the reason.
pub(crate) fn parse_column(text: &str, tokens: &[Token], mariadb: bool) -> Result<ParsedColumn, String> {
    let name = tokens.first().and_then(Token::ident).ok_or("a column definition without a column name")?.to_string();
    let rest = &tokens[1..];
    if rest.is_empty() {
        return Err(format!("column `{name}` has no data type"));
    }
    // The data type runs until the first attribute word at depth 0.
    let mut depth = 0i32;
    let mut type_end = rest.len();
    for (i, t) in rest.iter().enumerate() {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ if depth == 0 && i > 0 => {
                let is_charset = t.is("CHARACTER") && rest.get(i + 1).is_some_and(|n| n.is("SET"));
                if is_charset || ATTRIBUTE_WORDS.iter().any(|w| t.is(w)) {
                    type_end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let (type_toks, attrs) = rest.split_at(type_end);
    let mut unsigned = false;
    let mut binary_attr = false;
    let mut national = false;
    let mut type_text = String::new();
    for (i, t) in type_toks.iter().enumerate() {
        if t.is("ZEROFILL") || t.is("UNSIGNED") {
            unsigned = true;
            continue;
        }
        if t.is("SIGNED") {
            continue;
        }
        if i > 0 && (t.is("BINARY") || t.is("BYTE") || t.is("ASCII") || t.is("UNICODE")) {
            if t.is("ASCII") || t.is("UNICODE") {
                return Err(format!("column `{name}`: the {} type attribute is not supported", text_of(text, t)));
            }
            binary_attr = true;
            continue;
        }
        if i == 0 && t.is("NATIONAL") {
            national = true;
            continue;
        }
        if !type_text.is_empty() {
            type_text.push(' ');
        }
        type_text.push_str(text_of(text, t));
    }
    // Attributes that matter for the row shape, at depth 0.
    let mut not_null = false;
    let mut primary_key = false;
    let mut charset: Option<String> = None;
    let mut collation: Option<String> = None;
    let mut depth = 0i32;
    let mut i = 0;
    while i < attrs.len() {
        let t = &attrs[i];
        let prev_default = i > 0 && attrs[i - 1].is("DEFAULT");
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ if depth != 0 => {}
            _ if t.is("NOT") && attrs.get(i + 1).is_some_and(|n| n.is("NULL")) => {
                not_null = true;
                i += 1;
            }
            _ if t.is("NULL") && !prev_default => not_null = false,
            _ if t.is("PRIMARY") && attrs.get(i + 1).is_some_and(|n| n.is("KEY")) => {
                primary_key = true;
                i += 1;
            }
            // A bare KEY attribute is PRIMARY KEY (MySQL manual 15.1.20 "CREATE TABLE").
            _ if t.is("KEY") && !(i > 0 && attrs[i - 1].is("UNIQUE")) => primary_key = true,
            _ if t.is("CHARSET") || (t.is("CHARACTER") && attrs.get(i + 1).is_some_and(|n| n.is("SET"))) => {
                let mut j = if t.is("CHARSET") { i + 1 } else { i + 2 };
                if attrs.get(j).is_some_and(|n| n.is_punct('=')) {
                    j += 1;
                }
                let cs = attrs
                    .get(j)
                    .and_then(Token::text)
                    .ok_or_else(|| format!("column `{name}`: CHARACTER SET without a name"))?;
                charset = Some(normalize_charset(cs));
                i = j;
            }
            _ if t.is("COLLATE") => {
                let mut j = i + 1;
                if attrs.get(j).is_some_and(|n| n.is_punct('=')) {
                    j += 1;
                }
                let c = attrs
                    .get(j)
                    .and_then(Token::text)
                    .ok_or_else(|| format!("column `{name}`: COLLATE without a name"))?;
                collation = Some(c.to_string());
                i = j;
            }
            _ if t.is("WITH") && attrs.get(i + 1).is_some_and(|n| n.is("SYSTEM")) => {
                return Err(format!("column `{name}`: WITH SYSTEM VERSIONING changes the table's hidden columns"));
            }
            _ => {}
        }
        i += 1;
    }
    let sql = format!("CREATE TABLE _t (`c` {type_text})");
    let stmt =
        Parser::parse_sql(&MySqlDialect {}, &sql).map_err(|e| format!("column `{name}`: type `{type_text}`: {e}"))?;
    let Some(Statement::CreateTable(ct)) = stmt.into_iter().next() else {
        return Err(format!("column `{name}`: type `{type_text}` did not parse as a column"));
    };
    let Some(col) = ct.columns.into_iter().next() else {
        return Err(format!("column `{name}`: type `{type_text}` did not parse as a column"));
    };
    // Options sqlparser read inside the type text (none expected; SERIAL-like forms).
    for o in &col.options {
        if let ColumnOption::NotNull = o.option {
            not_null = true;
        }
    }
    let mut p = from_data_type(&name, &col.data_type, mariadb)?;
    p.def.name = name.clone();
    p.def.unsigned |= unsigned && is_numeric(&p.def.data_type);
    if p.def.unsigned && !p.def.column_type.ends_with(" unsigned") {
        p.def.column_type.push_str(" unsigned");
    }
    if p.def.data_type == "bigint" && type_text.eq_ignore_ascii_case("serial") {
        not_null = true;
    }
    if national {
        p.charset = CharsetSpec::Explicit("utf8mb3".into());
    }
    if p.charset != CharsetSpec::None {
        if let Some(cs) = charset.or(collation.as_deref().map(charset_of_collation)) {
            p.charset = CharsetSpec::Explicit(cs);
        }
    } else if charset.is_some() || collation.is_some() || binary_attr {
        return Err(format!("column `{name}`: a character set or collation on the non-character type `{type_text}`"));
    }
    p.primary_key = primary_key;
    p.def.nullable = !(not_null || primary_key);
    Ok(p)
}

fn text_of<'a>(text: &'a str, t: &Token) -> &'a str {
    &text[t.span.clone()]
}

fn is_numeric(data_type: &str) -> bool {
    matches!(data_type, "tinyint" | "smallint" | "mediumint" | "int" | "bigint" | "decimal" | "float" | "double")
}

fn column(data_type: &str, column_type: String) -> ParsedColumn {
    ParsedColumn {
        def: ColumnDef {
            name: String::new(),
            data_type: data_type.into(),
            column_type,
            unsigned: false,
            charset: None,
            labels: Vec::new(),
            length: None,
            precision: None,
            scale: None,
            fsp: None,
            nullable: true,
        },
        charset: CharsetSpec::None,
        primary_key: false,
    }
}

fn simple(data_type: &str) -> ParsedColumn {
    column(data_type, data_type.to_string())
}

fn int(data_type: &str, unsigned: bool) -> ParsedColumn {
    let mut p = simple(data_type);
    p.def.unsigned = unsigned;
    p
}

fn decimal(info: &ExactNumberInfo, unsigned: bool) -> Result<ParsedColumn, String> {
    let (m, d) = match *info {
        ExactNumberInfo::None => (10, 0),
        ExactNumberInfo::Precision(m) => (m, 0),
        ExactNumberInfo::PrecisionAndScale(m, d) => (m, u64::try_from(d).map_err(|_| "a negative DECIMAL scale")?),
    };
    let mut p = column("decimal", format!("decimal({m},{d})"));
    p.def.precision = Some(m as u32);
    p.def.scale = Some(d as u32);
    p.def.unsigned = unsigned;
    Ok(p)
}

fn float(info: &ExactNumberInfo, unsigned: bool) -> ParsedColumn {
    let mut p = match *info {
        ExactNumberInfo::None => simple("float"),
        ExactNumberInfo::Precision(p) if p > 24 => simple("double"),
        ExactNumberInfo::Precision(_) => simple("float"),
        ExactNumberInfo::PrecisionAndScale(m, d) => {
            let mut p = column("float", format!("float({m},{d})"));
            p.def.precision = Some(m as u32);
            p.def.scale = Some(d as u32);
            p
        }
    };
    p.def.unsigned = unsigned;
    p
}

fn double(info: &ExactNumberInfo, unsigned: bool) -> ParsedColumn {
    let mut p = match *info {
        ExactNumberInfo::PrecisionAndScale(m, d) => {
            let mut p = column("double", format!("double({m},{d})"));
            p.def.precision = Some(m as u32);
            p.def.scale = Some(d as u32);
            p
        }
        _ => simple("double"),
    };
    p.def.unsigned = unsigned;
    p
}

fn chars(data_type: &str, len: u64) -> ParsedColumn {
    let mut p = column(data_type, format!("{data_type}({len})"));
    p.def.length = Some(len);
    p.charset = CharsetSpec::TableDefault;
    p
}

fn char_len(l: &Option<CharacterLength>, default: Option<u64>, ty: &str) -> Result<u64, String> {
    match l {
        Some(CharacterLength::IntegerLength { length, .. }) => Ok(*length),
        Some(CharacterLength::Max) => Err(format!("{ty}(MAX) is not MySQL")),
        None => default.ok_or_else(|| format!("{ty} needs a length")),
    }
}

fn bytes(data_type: &str, len: u64, with_len: bool) -> ParsedColumn {
    let mut p = if with_len { column(data_type, format!("{data_type}({len})")) } else { simple(data_type) };
    p.def.length = Some(len);
    p
}

fn text(data_type: &str, len: u64) -> ParsedColumn {
    let mut p = simple(data_type);
    p.def.length = Some(len);
    p.charset = CharsetSpec::TableDefault;
    p
}

/// The smallest BLOB/TEXT type holding `n` bytes (MySQL manual 13.3.4: `BLOB(M)`/`TEXT(M)`).
fn sized_lob(n: u64, text_type: bool) -> ParsedColumn {
    let (ty, cap) = match n {
        0..=255 => ("tiny", 255),
        256..=65535 => ("", 65535),
        65536..=16_777_215 => ("medium", 16_777_215),
        _ => ("long", 4_294_967_295),
    };
    if text_type {
        text(&format!("{ty}text"), cap)
    } else {
        bytes(&format!("{ty}blob"), cap, false)
    }
}

fn temporal(data_type: &str, fsp: Option<u64>) -> Result<ParsedColumn, String> {
    let fsp = fsp.unwrap_or(0);
    if fsp > 6 {
        return Err(format!("{data_type}({fsp}): fractional seconds precision above 6"));
    }
    let mut p = if fsp == 0 { simple(data_type) } else { column(data_type, format!("{data_type}({fsp})")) };
    p.def.fsp = Some(fsp as u8);
    Ok(p)
}

fn labelled(data_type: &str, labels: Vec<String>) -> ParsedColumn {
    let quoted: Vec<String> = labels.iter().map(|l| format!("'{}'", l.replace('\'', "''"))).collect();
    let mut p = column(data_type, format!("{data_type}({})", quoted.join(",")));
    p.def.labels = labels;
    p.charset = CharsetSpec::TableDefault;
    p
}

fn from_data_type(name: &str, dt: &DataType, mariadb: bool) -> Result<ParsedColumn, String> {
    use DataType as D;
    Ok(match dt {
        D::TinyInt(_) | D::Bool | D::Boolean => int("tinyint", false),
        D::TinyIntUnsigned(_) | D::UTinyInt => int("tinyint", true),
        D::SmallInt(_) | D::Int2(_) => int("smallint", false),
        D::SmallIntUnsigned(_) | D::Int2Unsigned(_) | D::USmallInt => int("smallint", true),
        D::MediumInt(_) => int("mediumint", false),
        D::MediumIntUnsigned(_) => int("mediumint", true),
        D::Int(_) | D::Integer(_) | D::Int4(_) => int("int", false),
        D::IntUnsigned(_) | D::IntegerUnsigned(_) | D::Int4Unsigned(_) => int("int", true),
        D::BigInt(_) | D::Int8(_) => int("bigint", false),
        D::BigIntUnsigned(_) | D::Int8Unsigned(_) | D::UBigInt => int("bigint", true),
        D::Decimal(i) | D::Numeric(i) | D::Dec(i) => decimal(i, false)?,
        D::DecimalUnsigned(i) | D::DecUnsigned(i) => decimal(i, true)?,
        D::Float(i) => float(i, false),
        D::FloatUnsigned(i) => float(i, true),
        D::Real | D::Float8 | D::DoublePrecision => double(&ExactNumberInfo::None, false),
        D::RealUnsigned | D::DoublePrecisionUnsigned => double(&ExactNumberInfo::None, true),
        D::Double(i) => double(i, false),
        D::DoubleUnsigned(i) => double(i, true),
        D::Char(l) | D::Character(l) => chars("char", char_len(l, Some(1), "CHAR")?),
        D::Varchar(l) | D::CharVarying(l) | D::CharacterVarying(l) => chars("varchar", char_len(l, None, "VARCHAR")?),
        D::Nvarchar(l) => {
            let mut p = chars("varchar", char_len(l, None, "NVARCHAR")?);
            p.charset = CharsetSpec::Explicit("utf8mb3".into());
            p
        }
        D::Binary(l) => bytes("binary", l.unwrap_or(1), true),
        D::Varbinary(Some(BinaryLength::IntegerLength { length })) => bytes("varbinary", *length, true),
        D::Varbinary(_) => return Err("VARBINARY needs a length".into()),
        D::TinyBlob => bytes("tinyblob", 255, false),
        D::Blob(None) => bytes("blob", 65535, false),
        D::Blob(Some(n)) => sized_lob(*n, false),
        D::MediumBlob => bytes("mediumblob", 16_777_215, false),
        D::LongBlob => bytes("longblob", 4_294_967_295, false),
        D::TinyText => text("tinytext", 255),
        D::Text => text("text", 65535),
        D::MediumText => text("mediumtext", 16_777_215),
        D::LongText => text("longtext", 4_294_967_295),
        D::Date => simple("date"),
        D::Time(p, _) => temporal("time", *p)?,
        D::Datetime(p) => temporal("datetime", *p)?,
        D::Timestamp(p, _) => temporal("timestamp", *p)?,
        D::Bit(n) => {
            let n = n.unwrap_or(1);
            let mut p = column("bit", format!("bit({n})"));
            p.def.precision = Some(n as u32);
            p
        }
        D::JSON if mariadb => {
            let mut p = text("longtext", 4_294_967_295);
            p.charset = CharsetSpec::Explicit("utf8mb4".into());
            p
        }
        D::JSON => simple("json"),
        D::Enum(members, _) => labelled(
            "enum",
            members
                .iter()
                .map(|m| match m {
                    EnumMember::Name(n) => n.clone(),
                    EnumMember::NamedValue(n, _) => n.clone(),
                })
                .collect(),
        ),
        D::Set(labels) => labelled("set", labels.clone()),
        D::Uuid => simple("uuid"),
        D::GeometricType(k) => simple(match k {
            GeometricTypeKind::Point => "point",
            GeometricTypeKind::Polygon => "polygon",
            _ => return Err(format!("column `{name}`: geometric type `{dt}` is not MySQL")),
        }),
        D::Custom(obj, args) => {
            let ty = obj.to_string().to_ascii_lowercase();
            let arg = |i: usize| args.get(i).and_then(|a| a.trim().parse::<u64>().ok());
            match ty.as_str() {
                "year" => simple("year"),
                "serial" => int("bigint", true),
                "int1" => int("tinyint", false),
                "int3" | "middleint" => int("mediumint", false),
                "fixed" => decimal(
                    &match (arg(0), arg(1)) {
                        (Some(m), Some(d)) => ExactNumberInfo::PrecisionAndScale(m, d as i64),
                        (Some(m), None) => ExactNumberInfo::Precision(m),
                        _ => ExactNumberInfo::None,
                    },
                    false,
                )?,
                "nchar" => {
                    let mut p = chars("char", arg(0).unwrap_or(1));
                    p.charset = CharsetSpec::Explicit("utf8mb3".into());
                    p
                }
                "long" => text("mediumtext", 16_777_215),
                "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon"
                | "geometrycollection" => simple(&ty),
                "geomcollection" => simple("geometrycollection"),
                "inet4" => simple("inet4"),
                "inet6" => simple("inet6"),
                "vector" => column("vector", format!("vector({})", arg(0).unwrap_or(0))),
                _ => return Err(format!("column `{name}`: data type `{dt}` is not known to the schema history")),
            }
        }
        other => return Err(format!("column `{name}`: data type `{other}` is not known to the schema history")),
    })
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn parse(def: &str) -> Result<ParsedColumn, String> {
        let l = lex(def).unwrap();
        parse_column(&l.text, &l.tokens, false)
    }

    fn ok(def: &str) -> ColumnDef {
        parse(def).unwrap_or_else(|e| panic!("{def}: {e}")).resolve(Some("latin1")).unwrap()
    }

    #[test]
    fn integers_drop_display_width_and_keep_unsigned() {
        let c = ok("`Id` int(10) unsigned zerofill NOT NULL AUTO_INCREMENT");
        assert_eq!((c.name.as_str(), c.data_type.as_str(), c.column_type.as_str()), ("Id", "int", "int unsigned"));
        assert!(c.unsigned && !c.nullable && c.charset.is_none());
        assert_eq!(ok("b BIGINT SIGNED DEFAULT -1").column_type, "bigint");
        assert_eq!(ok("b BOOL").data_type, "tinyint");
        let s = ok("s SERIAL");
        assert_eq!((s.column_type.as_str(), s.nullable), ("bigint unsigned", false));
    }

    #[test]
    fn decimals_floats_and_temporals() {
        let d = ok("d DECIMAL(12,3) UNSIGNED");
        assert_eq!(
            (d.column_type.as_str(), d.precision, d.scale, d.unsigned),
            ("decimal(12,3) unsigned", Some(12), Some(3), true)
        );
        assert_eq!(ok("d NUMERIC").column_type, "decimal(10,0)");
        assert_eq!(ok("f FLOAT(30)").data_type, "double");
        let t = ok("t DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)");
        assert_eq!((t.column_type.as_str(), t.fsp), ("datetime(3)", Some(3)));
        assert_eq!(ok("t TIMESTAMP NULL").fsp, Some(0));
        assert_eq!(ok("y YEAR(4)").data_type, "year");
    }

    #[test]
    fn character_types_take_charsets() {
        let v = ok("v VARCHAR(20) CHARSET utf8 COLLATE utf8_bin DEFAULT 'x' COMMENT 'y'");
        assert_eq!(
            (v.column_type.as_str(), v.length, v.charset.as_deref()),
            ("varchar(20)", Some(20), Some("utf8mb3"))
        );
        assert_eq!(ok("v VARCHAR(20)").charset.as_deref(), Some("latin1"));
        assert_eq!(ok("v VARCHAR(20) BINARY").charset.as_deref(), Some("latin1"));
        assert_eq!(ok("v CHAR(3) COLLATE utf8mb4_unicode_ci").charset.as_deref(), Some("utf8mb4"));
        assert_eq!(ok("v NATIONAL VARCHAR(3)").charset.as_deref(), Some("utf8mb3"));
        let b = ok("v VARCHAR(8) CHARACTER SET binary");
        assert_eq!((b.data_type.as_str(), b.column_type.as_str(), b.charset), ("varbinary", "varbinary(8)", None));
        assert_eq!(ok("c CHAR").length, Some(1));
        assert_eq!(ok("t TEXT").charset.as_deref(), Some("latin1"));
        assert_eq!(ok("t BLOB(300)").data_type, "blob");
        let j = parse("j JSON").unwrap().resolve(None);
        assert_eq!(j.unwrap().data_type, "json");
        let l = lex("j JSON").unwrap();
        let mj = parse_column(&l.text, &l.tokens, true).unwrap().resolve(None).unwrap();
        assert_eq!((mj.data_type.as_str(), mj.charset.as_deref()), ("longtext", Some("utf8mb4")));
    }

    #[test]
    fn enum_and_set_labels() {
        let e = ok("e ENUM('a','b''c','d,e') CHARACTER SET utf8mb4 NOT NULL DEFAULT 'a'");
        assert_eq!(e.labels, ["a", "b'c", "d,e"]);
        assert_eq!(e.column_type, "enum('a','b''c','d,e')");
        assert_eq!(e.charset.as_deref(), Some("utf8mb4"));
        assert_eq!(ok("s SET('x','y')").labels, ["x", "y"]);
    }

    #[test]
    fn inline_keys_and_generated_columns() {
        let p = parse("id INT PRIMARY KEY").unwrap();
        assert!(p.primary_key && !p.def.nullable);
        assert!(parse("id INT KEY").unwrap().primary_key);
        assert!(!parse("id INT UNIQUE KEY").unwrap().primary_key);
        let g = ok("g INT AS (a + 1) VIRTUAL INVISIBLE CHECK (g IS NOT NULL)");
        assert!(g.nullable);
        assert_eq!(ok("p POINT NOT NULL /*!80003 SRID 4326 */").data_type, "point");
    }

    #[test]
    fn unreadable_definitions_fail_with_the_reason() {
        assert!(parse("x FOO(3)").unwrap_err().contains("not known"));
        assert!(parse("x").unwrap_err().contains("no data type"));
        assert!(parse("x INT CHARACTER SET utf8mb4").unwrap_err().contains("non-character"));
        assert!(parse("v VARCHAR(10)").unwrap().resolve(None).unwrap_err().contains("default character set"));
        assert!(parse("x INT WITH SYSTEM VERSIONING").is_err());
    }
}
