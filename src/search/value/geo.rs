//! The `near` search parameter of `Location` (R4 special parameter):
//! `near=[latitude]|[longitude]|[distance]|[units]`.
//!
//! Latitude and longitude are decimal degrees (WGS84 as `Location.position`
//! holds them). The distance is optional and defaults to
//! [`DEFAULT_DISTANCE_KM`] (R4 leaves it to the server); the units are a UCUM
//! length code and default to `km` (R4: "if the units are omitted, then kms
//! should be assumed"); `mi` is also accepted for `[mi_i]`. Distances are
//! great-circle distances by the haversine formula on a sphere of the mean
//! Earth radius, 6371.0088 km; within the ellipsoid's ±0.5 % this is what
//! "near" means. For SQL, [`bounding_box`] gives a box that contains every
//! point within the distance, to prefilter on indexed latitude and longitude
//! before the exact [`Near::contains`] test.

use super::decimal::Decimal;
use super::token::split_unescaped;
use super::ucum;

/// The mean Earth radius (IUGG), in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// The distance used when a `near` value gives none.
pub const DEFAULT_DISTANCE_KM: f64 = 10.0;

/// A parsed `near` value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Near {
    /// Latitude in degrees, −90 to 90.
    pub latitude: f64,
    /// Longitude in degrees, −180 to 180.
    pub longitude: f64,
    /// The largest distance that is near, in kilometres (not negative).
    pub distance_km: f64,
}

/// A number of the `near` value: a decimal (no `inf`, `NaN` or spaces).
fn number(text: &str) -> Option<f64> {
    Decimal::parse(text).map(|d| d.to_f64())
}

/// Parses `lat|long|distance|units` (the last two optional, as is an empty
/// distance or unit). `None` for a malformed number, a coordinate out of
/// range, a negative distance or a unit that is not a length.
pub fn parse_near(value: &str) -> Option<Near> {
    let parts = split_unescaped(value, '|');
    if !(2..=4).contains(&parts.len()) {
        return None;
    }
    let latitude = number(parts[0]).filter(|v| (-90.0..=90.0).contains(v))?;
    let longitude = number(parts[1]).filter(|v| (-180.0..=180.0).contains(v))?;
    let distance = parts.get(2).copied().unwrap_or("");
    let units = match parts.get(3).copied().unwrap_or("") {
        "" => "km",
        "mi" => "[mi_i]",
        other => other,
    };
    let distance_km = if distance.is_empty() {
        DEFAULT_DISTANCE_KM
    } else {
        let d = Decimal::parse(distance)?;
        if d < Decimal::ZERO {
            return None;
        }
        match ucum::canonical(&d, units)? {
            (metres, "m") => metres.to_f64() / 1000.0,
            _ => return None,
        }
    };
    Some(Near {
        latitude,
        longitude,
        distance_km,
    })
}

/// The great-circle distance between two points given in degrees, in
/// kilometres (haversine formula).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

impl Near {
    /// Whether a point (degrees) is within the distance.
    pub fn contains(&self, latitude: f64, longitude: f64) -> bool {
        distance_km(self.latitude, self.longitude, latitude, longitude) <= self.distance_km
    }
}

/// A latitude/longitude box. When `min_longitude > max_longitude` the box
/// crosses the antimeridian and its longitudes are
/// `longitude >= min_longitude OR longitude <= max_longitude`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundingBox {
    /// Southern edge, degrees.
    pub min_latitude: f64,
    /// Northern edge, degrees.
    pub max_latitude: f64,
    /// Western edge, degrees.
    pub min_longitude: f64,
    /// Eastern edge, degrees.
    pub max_longitude: f64,
}

impl BoundingBox {
    /// Whether the box crosses the antimeridian (see the type's documentation).
    pub fn crosses_antimeridian(&self) -> bool {
        self.min_longitude > self.max_longitude
    }

    /// Whether a point lies in the box.
    pub fn contains(&self, latitude: f64, longitude: f64) -> bool {
        let lat_ok = (self.min_latitude..=self.max_latitude).contains(&latitude);
        let lon_ok = if self.crosses_antimeridian() {
            longitude >= self.min_longitude || longitude <= self.max_longitude
        } else {
            (self.min_longitude..=self.max_longitude).contains(&longitude)
        };
        lat_ok && lon_ok
    }
}

/// A box containing every point within `near`'s distance, slightly enlarged
/// (by 10⁻⁹ degrees) against rounding. Near a pole, or for distances beyond
/// half the globe, it spans all longitudes.
pub fn bounding_box(near: &Near) -> BoundingBox {
    const SLACK: f64 = 1e-9;
    let angle = (near.distance_km / EARTH_RADIUS_KM).min(std::f64::consts::PI);
    let angle_deg = angle.to_degrees();
    let min_latitude = (near.latitude - angle_deg - SLACK).max(-90.0);
    let max_latitude = (near.latitude + angle_deg + SLACK).min(90.0);
    let lat = near.latitude.to_radians();
    // The widest longitude difference on the circle: asin(sin r / cos φ).
    let ratio = angle.sin() / lat.cos();
    if max_latitude >= 90.0
        || min_latitude <= -90.0
        || ratio.is_nan()
        || ratio >= 1.0
        || angle >= std::f64::consts::FRAC_PI_2
    {
        return BoundingBox {
            min_latitude,
            max_latitude,
            min_longitude: -180.0,
            max_longitude: 180.0,
        };
    }
    let dlon = ratio.asin().to_degrees() + SLACK;
    let mut min_longitude = near.longitude - dlon;
    let mut max_longitude = near.longitude + dlon;
    if min_longitude < -180.0 {
        min_longitude += 360.0;
    }
    if max_longitude > 180.0 {
        max_longitude -= 360.0;
    }
    BoundingBox {
        min_latitude,
        max_latitude,
        min_longitude,
        max_longitude,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::{ALPHABET, Rng};
    use super::*;

    #[test]
    fn parse_near_forms_and_units() {
        let n = parse_near("-83.694810|42.256500|11.20|km").unwrap();
        assert_eq!((n.latitude, n.longitude), (-83.69481, 42.2565));
        assert!((n.distance_km - 11.2).abs() < 1e-12);
        assert!((parse_near("0|0|1|[mi_i]").unwrap().distance_km - 1.609344).abs() < 1e-12);
        assert!((parse_near("0|0|1|mi").unwrap().distance_km - 1.609344).abs() < 1e-12);
        assert!((parse_near("0|0|250|m").unwrap().distance_km - 0.25).abs() < 1e-12);
        assert!((parse_near("0|0|3").unwrap().distance_km - 3.0).abs() < 1e-12);
        assert_eq!(parse_near("0|0").unwrap().distance_km, DEFAULT_DISTANCE_KM);
        assert_eq!(
            parse_near("0|0||").unwrap().distance_km,
            DEFAULT_DISTANCE_KM
        );
        assert_eq!(parse_near("0|0|2|").unwrap().distance_km, 2.0);
    }

    #[test]
    fn parse_near_refusals() {
        for bad in [
            "",
            "0",
            "91|0",
            "-90.0001|0",
            "0|180.5",
            "0|0|-1",
            "0|0|1|kg",
            "0|0|1|Cel",
            "0|0|1|km|x",
            "a|0",
            "0|NaN",
            "0|inf",
            " 0|0",
            "0|0|1e999",
            "0|0|1|{x",
        ] {
            assert_eq!(parse_near(bad), None, "{bad:?}");
        }
        assert!(parse_near("90|-180|0").is_some());
    }

    #[test]
    fn haversine_known_distances() {
        // A quarter of a meridian.
        let quarter = std::f64::consts::FRAC_PI_2 * EARTH_RADIUS_KM;
        assert!((distance_km(0.0, 0.0, 90.0, 0.0) - quarter).abs() < 1e-9);
        assert!((distance_km(0.0, 0.0, 0.0, 180.0) - 2.0 * quarter).abs() < 1e-9);
        assert!(
            (distance_km(10.0, 179.5, 10.0, -179.5) - distance_km(10.0, 0.0, 10.0, 1.0)).abs()
                < 1e-9
        );
        assert_eq!(distance_km(51.5, -0.12, 51.5, -0.12), 0.0);
        // Paris to London, 343.557 km on this sphere.
        let d = distance_km(48.8566, 2.3522, 51.5074, -0.1278);
        assert!((d - 343.557).abs() < 0.001, "{d}");
        // One degree of latitude is about 111.19 km.
        assert!((distance_km(0.0, 0.0, 1.0, 0.0) - 111.195).abs() < 0.001);
    }

    #[test]
    fn near_contains_is_inclusive_of_the_distance() {
        let n = Near {
            latitude: 0.0,
            longitude: 0.0,
            distance_km: 111.195,
        };
        assert!(n.contains(0.0, 0.0));
        assert!(n.contains(0.999, 0.0));
        assert!(!n.contains(1.0, 0.0)); // 111.19508 km
        assert!(!n.contains(-1.0, 0.0));
        assert!(n.contains(0.0, -0.999));
        let here = Near {
            latitude: 45.0,
            longitude: 7.0,
            distance_km: 0.0,
        };
        assert!(here.contains(45.0, 7.0) && !here.contains(45.0, 7.000_001));
    }

    #[test]
    fn bounding_box_shapes() {
        let b = bounding_box(&Near {
            latitude: 0.0,
            longitude: 0.0,
            distance_km: 111.195,
        });
        assert!((b.max_latitude - 1.0).abs() < 1e-3 && (b.max_longitude - 1.0).abs() < 1e-3);
        let b = bounding_box(&Near {
            latitude: 10.0,
            longitude: 179.9,
            distance_km: 50.0,
        });
        assert!(b.crosses_antimeridian());
        assert!(b.contains(10.0, -179.9) && b.contains(10.0, 179.9) && !b.contains(10.0, 0.0));
        let b = bounding_box(&Near {
            latitude: 89.9,
            longitude: 0.0,
            distance_km: 50.0,
        });
        assert_eq!(
            (b.min_longitude, b.max_longitude, b.max_latitude),
            (-180.0, 180.0, 90.0)
        );
        let b = bounding_box(&Near {
            latitude: 0.0,
            longitude: 0.0,
            distance_km: 30_000.0,
        });
        assert_eq!((b.min_latitude, b.max_latitude), (-90.0, 90.0));
        let b = bounding_box(&Near {
            latitude: 60.0,
            longitude: 0.0,
            distance_km: 100.0,
        });
        // Longitude widens with latitude: about twice at 60°.
        assert!(b.max_longitude > 1.7 && b.max_longitude < 1.9, "{b:?}");
    }

    #[test]
    fn every_near_point_is_in_the_box() {
        let mut rng = Rng::new(31);
        let unit = |rng: &mut Rng| rng.below(1_000_001) as f64 / 1_000_000.0;
        for _ in 0..50_000 {
            let near = Near {
                latitude: unit(&mut rng) * 180.0 - 90.0,
                longitude: unit(&mut rng) * 360.0 - 180.0,
                distance_km: unit(&mut rng).powi(3) * 5000.0,
            };
            let b = bounding_box(&near);
            let (lat, lon) = (
                unit(&mut rng) * 180.0 - 90.0,
                unit(&mut rng) * 360.0 - 180.0,
            );
            // A point close to the centre, so that some are inside.
            let (lat2, lon2) = (
                (near.latitude + (lat / 90.0) * near.distance_km / 80.0).clamp(-90.0, 90.0),
                near.longitude + (lon / 180.0) * near.distance_km / 40.0,
            );
            let lon2 = if lon2 > 180.0 {
                lon2 - 360.0
            } else if lon2 < -180.0 {
                lon2 + 360.0
            } else {
                lon2
            };
            for (a, o) in [(lat, lon), (lat2, lon2)] {
                if near.contains(a, o) {
                    assert!(b.contains(a, o), "{near:?} {b:?} ({a}, {o})");
                }
            }
        }
    }

    #[test]
    fn parse_near_never_panics() {
        let mut rng = Rng::new(37);
        for _ in 0..20_000 {
            let text = rng.mutate("-83.694810|42.256500|11.20|km", ALPHABET);
            if let Some(n) = parse_near(&text) {
                assert!(n.distance_km.is_finite() && n.distance_km >= 0.0, "{text}");
                let b = bounding_box(&n);
                assert!(b.min_latitude <= b.max_latitude);
            }
        }
    }
}
