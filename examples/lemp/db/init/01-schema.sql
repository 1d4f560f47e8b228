-- Runs once, when the data directory is first initialised, in the
-- database named by MARIADB_DATABASE.
CREATE TABLE items (
    id         INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(200) NOT NULL,
    created_at TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT INTO items (name) VALUES
    ('first seeded row'),
    ('second seeded row'),
    ('third seeded row');
