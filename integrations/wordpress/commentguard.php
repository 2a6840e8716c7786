<?php
/**
 * Plugin Name: commentguard for Akismet
 * Description: Sends the Akismet plugin's requests to commentguard instead of Akismet's servers, and holds for a moderator the comments commentguard holds.
 * Version: 1.0.0
 * Requires at least: 5.0
 * Requires PHP: 7.0
 *
 * A must-use plugin: copy this file to wp-content/mu-plugins/ and say where commentguard's
 * HTTP listener is in wp-config.php:
 *
 *     define( 'COMMENTGUARD_URL', 'http://commentguard.internal:8080' );
 *
 * then enter the site's commentguard key (exactly 12 hexadecimal digits, as the Akismet plugin
 * requires) on Settings → Akismet Anti-spam. Nothing else is configured here.
 *
 * Without COMMENTGUARD_URL nothing is sent anywhere: the Akismet plugin then holds every comment
 * as it does when Akismet cannot be reached, rather than sending comments to a third party.
 */

defined( 'ABSPATH' ) || exit;

/**
 * Whether the last comment check commentguard answered holds that comment for a moderator.
 *
 * Akismet's protocol has two answers (spam or not); commentguard's third one, PENDING, travels
 * in the `X-commentguard-status` header of a `false` answer.
 *
 * @param bool|null $holds The new value, or null to read.
 * @return bool
 */
function commentguard_holds_last_checked( $holds = null ) {
	static $last = false;
	if ( null !== $holds ) {
		$last = (bool) $holds;
	}
	return $last;
}

/**
 * Answers the Akismet plugin's requests to rest.akismet.com from commentguard.
 *
 * @param false|array|WP_Error $preempt Another filter's answer, if any.
 * @param array                $args    The request's arguments (method, body, headers, ...).
 * @param string               $url     The URL the Akismet plugin asked for.
 * @return false|array|WP_Error
 */
function commentguard_route_akismet( $preempt, $args, $url ) {
	$host = (string) wp_parse_url( $url, PHP_URL_HOST );
	if ( ! preg_match( '/(^|\.)rest\.akismet\.com$/i', $host ) ) {
		return $preempt;
	}
	if ( ! defined( 'COMMENTGUARD_URL' ) || '' === (string) COMMENTGUARD_URL ) {
		return new WP_Error( 'commentguard_not_configured', 'COMMENTGUARD_URL is not defined in wp-config.php.' );
	}
	$path     = (string) wp_parse_url( $url, PHP_URL_PATH );
	$query    = (string) wp_parse_url( $url, PHP_URL_QUERY );
	$target   = rtrim( (string) COMMENTGUARD_URL, '/' ) . $path . ( '' === $query ? '' : '?' . $query );
	$response = wp_remote_request( $target, $args );
	if ( '/1.1/comment-check' === $path ) {
		$status = is_wp_error( $response ) ? '' : wp_remote_retrieve_header( $response, 'x-commentguard-status' );
		commentguard_holds_last_checked( 'PENDING' === $status );
	}
	return $response;
}
add_filter( 'pre_http_request', 'commentguard_route_akismet', 10, 3 );

/**
 * Holds the comment commentguard holds, as "Comment must be manually approved" would.
 *
 * WordPress reads this option when it decides whether a new comment is approved (after the
 * Akismet plugin's check) and when the Akismet plugin approves a comment on a later retry, so
 * both keep a held comment held. Spam stays spam: the Akismet plugin decides that afterwards.
 *
 * @param mixed $value The option's value as another filter set it, or false.
 * @return mixed
 */
function commentguard_moderate_held( $value ) {
	return commentguard_holds_last_checked() ? '1' : $value;
}
add_filter( 'pre_option_comment_moderation', 'commentguard_moderate_held' );

// A comment once stored, the next one starts undecided.
add_action(
	'comment_post',
	function () {
		commentguard_holds_last_checked( false );
	}
);
